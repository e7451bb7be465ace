import { init, Module, ops, Parameter, type Rng, type SymTensor } from "@densessm/core";

/**
 * PyTorch's depthwise `nn.Conv1d(E, E, K, groups=E)` as Mamba holds it: weight [E, 1, K] and bias
 * [E], so state-spaces checkpoints load without reshaping. Initialised like PyTorch (uniform in
 * ±1/sqrt(fan_in) with fan_in = K, since each group sees one channel).
 */
export class DepthwiseConv1d extends Module {
  weight: Parameter;
  bias: Parameter | undefined;

  constructor(
    readonly channels: number,
    readonly kernel: number,
    options: { bias: boolean; rng?: Rng },
  ) {
    super();
    this.weight = new Parameter(init.fanInUniform([channels, 1, kernel], kernel, options.rng));
    this.bias = options.bias ? new Parameter(init.fanInUniform([channels], kernel, options.rng)) : undefined;
  }

  /**
   * Causal convolution of x [B, T, E] continuing from `tail` [B, K-1, E], the K-1 inputs that
   * precede x (zeros at the start of a sequence). Returns the T outputs.
   */
  forward(x: SymTensor, tail: SymTensor | undefined): SymTensor {
    return tail ? this.overWindow(ops.concat([tail, x], 1)) : ops.causalConv1d(x, this.taps(), this.bias);
  }

  /** The T outputs of `window` [B, K−1+T, E]: the K−1 inputs that precede them, then theirs. */
  overWindow(window: SymTensor): SymTensor {
    return ops.causalConv1d(window, this.taps(), this.bias, { history: true });
  }

  /** weight as [E, K], the layout causalConv1d takes. */
  private taps(): SymTensor {
    return this.weight.sym.reshape([this.channels, this.kernel]);
  }
}
