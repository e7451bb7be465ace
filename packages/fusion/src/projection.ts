import { DenseSSMError, Linear, Module, ops, type Rng, type SymTensor } from "@densessm/core";

/**
 * The official code's parameter-efficient bottleneck ("HiddenProjection"): fc1 -> SiLU -> fc2, both
 * without bias. Property names `fc1`/`fc2` match the PyTorch checkpoints (`k_select.fc1.weight`).
 */
export class HiddenProjection extends Module {
  fc1: Linear;
  fc2: Linear;

  constructor(
    readonly inputDim: number,
    readonly hiddenDim: number,
    readonly outputDim: number,
    options: { rng?: Rng } = {},
  ) {
    super();
    for (const [what, d] of [["inputDim", inputDim], ["hiddenDim", hiddenDim], ["outputDim", outputDim]] as const) {
      if (!Number.isInteger(d) || d < 1) throw new DenseSSMError(`HiddenProjection: ${what} must be a positive integer, got ${d}`);
    }
    this.fc1 = new Linear(inputDim, hiddenDim, { bias: false, rng: options.rng });
    this.fc2 = new Linear(hiddenDim, outputDim, { bias: false, rng: options.rng });
  }

  /**
   * Sizes given as reduction ratios of the input, the way the official code does it:
   * hidden = floor(input / midRatio), output = floor(input / finalRatio). A final ratio below 1
   * widens (64 with ratio 0.5 gives 128).
   */
  static fromRatios(inputDim: number, midRatio: number, finalRatio: number, options: { rng?: Rng } = {}): HiddenProjection {
    if (!(midRatio > 0) || !(finalRatio > 0)) throw new DenseSSMError(`HiddenProjection: reduction ratios must be positive, got ${midRatio} and ${finalRatio}`);
    return new HiddenProjection(inputDim, Math.floor(inputDim / midRatio), Math.floor(inputDim / finalRatio), options);
  }

  forward(x: SymTensor): SymTensor {
    return this.fc2.forward(ops.silu(this.fc1.forward(x)));
  }
}
