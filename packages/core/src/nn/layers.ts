import { currentBuilder, type SymTensor } from "../graph/symbolic.js";
import { gather } from "../ops/indexing.js";
import { layerNorm, linear, rmsnorm } from "../ops/composites.js";
import { rand } from "../ops/random.js";
import type { WeightQuantization } from "../quant/format.js";
import { dequantize, quantizedMatmul } from "../quant/ops.js";
import type { Rng } from "../runtime/rng.js";
import { init } from "./init.js";
import { Module } from "./module.js";
import { Parameter } from "./parameter.js";

/**
 * y = x W^T + b, weight [out, in] as in PyTorch; initialised like torch.nn.Linear. A quantized
 * Linear (see `quantizeModule`) holds the codes in `weight` and their scales in `weight_scale`.
 */
export class Linear extends Module {
  weight: Parameter;
  weight_scale: Parameter | undefined;
  bias: Parameter | undefined;
  /** How `weight` is quantized; undefined for a float weight. */
  quantization: WeightQuantization | undefined;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: { bias?: boolean; rng?: Rng } = {},
  ) {
    super();
    this.weight = new Parameter(init.fanInUniform([outFeatures, inFeatures], inFeatures, options.rng));
    this.bias = options.bias === false ? undefined : new Parameter(init.fanInUniform([outFeatures], inFeatures, options.rng));
  }

  forward(x: SymTensor): SymTensor {
    if (!this.quantization) return linear(x, this.weight, this.bias);
    const y = quantizedMatmul(x, this.weight, this.weight_scale!, { ...this.quantization, cols: this.inFeatures });
    return this.bias ? y.add(this.bias) : y;
  }
}

/**
 * Rows of a [num, dim] table selected by int32 ids; initialised N(0, 1) like torch.nn.Embedding.
 * Quantized like Linear; then only the selected rows are dequantized.
 */
export class Embedding extends Module {
  weight: Parameter;
  weight_scale: Parameter | undefined;
  quantization: WeightQuantization | undefined;

  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
    options: { rng?: Rng; std?: number } = {},
  ) {
    super();
    this.weight = new Parameter(init.normal([numEmbeddings, embeddingDim], options.std ?? 1, 0, options.rng));
  }

  forward(ids: SymTensor): SymTensor {
    if (!this.quantization) return gather(this.weight, ids, 0);
    return dequantize(gather(this.weight, ids, 0), gather(this.weight_scale!, ids, 0), { ...this.quantization, cols: this.embeddingDim });
  }
}

export class RMSNorm extends Module {
  weight: Parameter;

  constructor(
    readonly dim: number,
    readonly eps = 1e-6,
  ) {
    super();
    this.weight = new Parameter(init.ones([dim]));
  }

  forward(x: SymTensor): SymTensor {
    return rmsnorm(x, this.weight, this.eps);
  }
}

export class LayerNorm extends Module {
  weight: Parameter;
  bias: Parameter | undefined;

  constructor(
    readonly dim: number,
    readonly eps = 1e-5,
    options: { bias?: boolean } = {},
  ) {
    super();
    this.weight = new Parameter(init.ones([dim]));
    this.bias = options.bias === false ? undefined : new Parameter(init.zeros([dim]));
  }

  forward(x: SymTensor): SymTensor {
    return layerNorm(x, this.weight, this.bias, this.eps);
  }
}

/** The name of the int32 scalar graph input that seeds dropout masks (fed by the trainer per step). */
export const DROPOUT_SEED_INPUT = "dropout_seed";

/**
 * Inverted dropout. In training mode it draws its mask with the `rand` primitive from the graph's
 * `dropout_seed` input, offset per dropout site, so masks are reproducible on every backend.
 */
export class Dropout extends Module {
  private static sites = new WeakMap<object, number>();

  constructor(readonly p = 0.1) {
    super();
  }

  forward(x: SymTensor): SymTensor {
    if (!this.training || this.p === 0) return x;
    const builder = currentBuilder();
    const seed = builder.inputs.find((b) => b.name === DROPOUT_SEED_INPUT);
    const seedSym = seed ? builder.sym(seed.id) : builder.input(DROPOUT_SEED_INPUT, [], "int32");
    const site = (Dropout.sites.get(builder) ?? 0) + 1;
    Dropout.sites.set(builder, site);
    const keep = rand(seedSym.add(site * 7919), x.shape).less(1 - this.p);
    return x.mul(keep).mul(1 / (1 - this.p));
  }
}
