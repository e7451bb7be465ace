import { DenseSSMError, FormatError } from "../errors.js";
import { Embedding, Linear } from "../nn/layers.js";
import type { Module } from "../nn/module.js";
import { Parameter } from "../nn/parameter.js";
import { Tensor } from "../tensor/tensor.js";
import { quantizeWeight, type QuantizedWeight } from "./codec.js";
import { quantizedLayout, weightQuantization, type QuantizationConfig, type QuantizationSettings, type WeightQuantization } from "./format.js";

// Which modules are quantized is one generic rule, the same for every model family: every Linear
// and Embedding (lm_head included), and nothing else, so norm weights, biases, Mamba's A_log, D,
// dt bias and convolution stay as they are (small: quantizing them would save almost nothing).
// Measured on the trained default (DenseRetNet, tinyshakespeare, 4,096 held-out tokens), keeping
// the dense-fusion gates (k_select/v_select) in float changed perplexity by 0.00 % at int8 and
// -0.15 % at 4 bits (noise: quantizing everything moved it by -0.01 % and -0.38 %), so the gates are
// quantized like any Linear. The one exception in the rule: at 4 bits, a weight whose rows are
// shorter than a group (a gate's 8-wide input, Mamba's dt_proj) stays in float, because a row
// of padding would cost as many bytes as the float row. A family never branches here; the other
// exceptions are the modules a user names (`keep`). config.json records both.

type Quantizable = Linear | Embedding;

/** The Linear and Embedding modules of `root` by state_dict prefix: what quantization applies to. */
export function quantizableModules(root: Module): [string, Quantizable][] {
  return root.namedModules().filter((e): e is [string, Quantizable] => e[1] instanceof Linear || e[1] instanceof Embedding);
}

/** [rows, cols] of a quantizable module's weight. */
function matrixShape(m: Quantizable): [number, number] {
  return m instanceof Linear ? [m.outFeatures, m.inFeatures] : [m.numEmbeddings, m.embeddingDim];
}

export interface QuantizeOptions extends QuantizationSettings {
  /** Modules (state_dict prefixes, e.g. "lm_head") to keep in floating point. */
  readonly keep?: (name: string) => boolean;
}

/**
 * Quantizes every Linear and Embedding of `root` in place by rounding to nearest (no calibration
 * data), except the modules `keep` names and, at 4 bits, those with rows shorter than a group.
 * Weights tied between modules stay tied. Returns what config.json records as `quantization_config`.
 */
export function quantizeModule(root: Module, options: QuantizeOptions): QuantizationConfig {
  const settings: QuantizationSettings = { bits: options.bits, ...(options.bits === 4 ? { groupSize: options.groupSize } : {}) };
  const shorterThanAGroup = (m: Quantizable) => options.bits === 4 && matrixShape(m)[1] < weightQuantization(settings, matrixShape(m)[1]).groupSize;
  const keep = quantizableModules(root)
    .filter(([name, m]) => options.keep?.(name) || shorterThanAGroup(m))
    .map(([name]) => name);
  const config: QuantizationConfig = { ...settings, keep };
  if (quantizableModules(root).some(([, m]) => m.quantization)) throw new DenseSSMError("quantizeModule: the model is already quantized");
  convert(root, config, (m, q) => quantizeWeight(m.weight.value, q));
  return config;
}

/**
 * Gives the modules a quantized folder stores quantized (all but `config.keep`) empty codes and
 * scales of the right shapes and dtypes, so `loadStateDict` fills them from the file.
 */
export function prepareQuantized(root: Module, config: QuantizationConfig, where = "config.json"): void {
  const known = new Set(quantizableModules(root).map(([name]) => name));
  const unknown = config.keep.filter((name) => !known.has(name));
  if (unknown.length) throw new FormatError(`${where}: quantization_config.modules_to_not_convert names ${unknown.map((n) => `"${n}"`).join(", ")}, which this model has no Linear or Embedding for`);
  convert(root, config, (m, q) => {
    const layout = quantizedLayout(q, ...matrixShape(m));
    return { codes: Tensor.zeros(layout.codesShape, layout.codesDType), scale: Tensor.zeros(layout.scaleShape, "float16") };
  });
}

/** Swaps each quantized module's float weight for codes and scale parameters; tied weights share them. */
function convert(root: Module, config: QuantizationConfig, make: (m: Quantizable, q: WeightQuantization) => QuantizedWeight): void {
  const shared = new Map<Parameter, { codes: Parameter; scale: Parameter }>();
  for (const [name, m] of quantizableModules(root)) {
    if (config.keep.includes(name)) continue;
    const [rows, cols] = matrixShape(m);
    const q = weightQuantization(config, cols);
    let quantized = shared.get(m.weight);
    if (!quantized) {
      const { codes, scale } = make(m, q);
      quantized = { codes: new Parameter(codes, { requiresGrad: false, logicalSize: rows * cols }), scale: new Parameter(scale, { requiresGrad: false, logicalSize: 0 }) };
      shared.set(m.weight, quantized);
    }
    m.weight = quantized.codes;
    m.weight_scale = quantized.scale;
    m.quantization = q;
  }
}

/** How `root`'s weights are quantized, read off its modules; undefined when none is. */
export function quantizationOf(root: Module): QuantizationConfig | undefined {
  const modules = quantizableModules(root);
  const q = modules.find(([, m]) => m.quantization)?.[1].quantization;
  if (!q) return undefined;
  const keep = modules.filter(([, m]) => !m.quantization).map(([name]) => name);
  return q.bits === 8 ? { bits: 8, keep } : { bits: 4, groupSize: q.groupSize, keep };
}
