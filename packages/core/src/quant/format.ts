import { FormatError, ShapeError } from "../errors.js";
import { formatShape, type Shape } from "../tensor/shape.js";

/**
 * How a weight matrix [rows, cols] (a Linear's [out, in], an Embedding's [num, dim]) is stored
 * quantized. Every row is split into groups of `groupSize` columns (the last one zero-padded), and
 * each group has one scale: value = (code - zeroPoint) * scale, accumulated in float32.
 *
 *  - bits 8: per-output-channel symmetric int8. One group per row (groupSize = cols), codes int8
 *    [rows, cols] in -127..127, zero point 0, scale [rows, 1].
 *  - bits 4: group-wise symmetric 4-bit, the block layout of onnxruntime's `MatMulNBits`: codes
 *    uint8 [rows, groups * groupSize / 2], two codes per byte with the even column in the low
 *    nibble, zero point 8 (MatMulNBits' default; the same arithmetic as GGUF's Q4_0), scale
 *    [rows, groups]. Group sizes 32, 64 or 128.
 *
 * Scales are float16 values: files hold them as F16, memory as float32 (exactly).
 */
export interface WeightQuantization {
  readonly bits: 8 | 4;
  /** Columns per scale. For bits 8 it is the row length (one scale per output channel). */
  readonly groupSize: number;
}

/** The settings of a quantized model (`quantization_config` in config.json), for every module alike. */
export interface QuantizationSettings {
  readonly bits: 8 | 4;
  /** 4-bit only: 32, 64 or 128 (default 64). */
  readonly groupSize?: number;
}

export const GROUP_SIZES: readonly number[] = [32, 64, 128];
export const DEFAULT_GROUP_SIZE = 64;

/** The quantization of one [rows, cols] matrix under model-wide settings. */
export function weightQuantization(settings: QuantizationSettings, cols: number): WeightQuantization {
  return settings.bits === 8 ? { bits: 8, groupSize: cols } : { bits: 4, groupSize: settings.groupSize ?? DEFAULT_GROUP_SIZE };
}

/** Shapes and sizes of one quantized [rows, cols] matrix. */
export interface QuantizedLayout {
  readonly groups: number;
  /** Code bytes per row: groups * groupSize * bits / 8. */
  readonly rowBytes: number;
  readonly codesShape: Shape;
  readonly scaleShape: Shape;
  readonly codesDType: "int8" | "uint8";
}

export function quantizedLayout(q: WeightQuantization, rows: number, cols: number): QuantizedLayout {
  checkWeightQuantization(q, cols);
  const groups = Math.ceil(cols / q.groupSize);
  const rowBytes = (groups * q.groupSize * q.bits) / 8;
  return { groups, rowBytes, codesShape: [rows, rowBytes], scaleShape: [rows, groups], codesDType: q.bits === 8 ? "int8" : "uint8" };
}

export function checkWeightQuantization(q: WeightQuantization, cols: number, op = "quantization"): void {
  if (q.bits !== 8 && q.bits !== 4) throw new ShapeError(`${op}: bits must be 8 or 4, got ${String(q.bits)}`);
  if (!Number.isInteger(cols) || cols < 1) throw new ShapeError(`${op}: cols must be a positive integer, got ${cols}`);
  if (!Number.isInteger(q.groupSize) || q.groupSize < 1) throw new ShapeError(`${op}: groupSize must be a positive integer, got ${q.groupSize}`);
  if (q.bits === 4 && q.groupSize % 2 !== 0) throw new ShapeError(`${op}: 4-bit groups hold whole bytes, so groupSize must be even, got ${q.groupSize}`);
  if (q.bits === 8 && q.groupSize !== cols) throw new ShapeError(`${op}: 8-bit weights have one scale per row (groupSize ${cols}), got groupSize ${q.groupSize}`);
}

/** Checks codes and scale shapes [..., rows, rowBytes] and [..., rows, groups] against a quantization. */
export function checkQuantizedShapes(codes: Shape, scale: Shape, q: WeightQuantization, cols: number, op: string): void {
  checkWeightQuantization(q, cols, op);
  const layout = quantizedLayout(q, codes[codes.length - 2] ?? 0, cols);
  const ok =
    codes.length >= 2 &&
    scale.length === codes.length &&
    codes.slice(0, -1).every((d, i) => d === scale[i]) &&
    codes[codes.length - 1] === layout.rowBytes &&
    scale[scale.length - 1] === layout.groups;
  if (!ok) {
    throw new ShapeError(
      `${op}: ${q.bits}-bit codes ${formatShape(codes)} and scale ${formatShape(scale)} do not hold ${cols} columns in groups of ${q.groupSize} (expected [..., rows, ${layout.rowBytes}] and [..., rows, ${layout.groups}])`,
    );
  }
}

// ---- config.json ----

/** The `quant_method` DenseSSM.js writes; other methods (gptq, awq, bitsandbytes) are not read. */
export const QUANT_METHOD = "densessm";

/** A model's quantization as config.json records it (snake_case, like transformers' quantization_config). */
export interface QuantizationConfig extends QuantizationSettings {
  /** Linear/Embedding modules kept in floating point, by state_dict prefix. */
  readonly keep: readonly string[];
}

/** `quantization_config` for config.json: self-describing, so a quantized folder loads by itself. */
export function quantizationConfigJSON(config: QuantizationConfig): Record<string, unknown> {
  return {
    quant_method: QUANT_METHOD,
    bits: config.bits,
    group_size: config.bits === 4 ? (config.groupSize ?? DEFAULT_GROUP_SIZE) : null,
    symmetric: true,
    layout: config.bits === 4 ? "onnxruntime-matmulnbits" : "per-channel-int8",
    scale_dtype: "float16",
    modules_to_not_convert: [...config.keep],
  };
}

/** Parses config.json's `quantization_config`; every problem is a FormatError naming the key. */
export function parseQuantizationConfig(value: unknown, where = "config.json"): QuantizationConfig {
  const at = `${where}: quantization_config`;
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new FormatError(`${at} must be an object`);
  const json = value as Record<string, unknown>;
  if (json.quant_method !== QUANT_METHOD) throw new FormatError(`${at}.quant_method is ${JSON.stringify(json.quant_method ?? null)}; only "${QUANT_METHOD}" (densessm quantize) is supported`);
  const bits = json.bits;
  if (bits !== 8 && bits !== 4) throw new FormatError(`${at}.bits must be 8 or 4, got ${JSON.stringify(bits ?? null)}`);
  if (json.symmetric !== undefined && json.symmetric !== true) throw new FormatError(`${at}.symmetric must be true (only symmetric quantization is supported)`);
  if (json.scale_dtype !== undefined && json.scale_dtype !== "float16") throw new FormatError(`${at}.scale_dtype must be "float16", got ${JSON.stringify(json.scale_dtype)}`);
  let groupSize: number | undefined;
  if (bits === 4) {
    groupSize = json.group_size === undefined ? DEFAULT_GROUP_SIZE : (json.group_size as number);
    if (!GROUP_SIZES.includes(groupSize)) throw new FormatError(`${at}.group_size must be one of ${GROUP_SIZES.join(", ")} for 4 bits, got ${JSON.stringify(json.group_size)}`);
  } else if (json.group_size !== undefined && json.group_size !== null) {
    throw new FormatError(`${at}.group_size must be null for 8 bits (one scale per output channel), got ${JSON.stringify(json.group_size)}`);
  }
  const keep = json.modules_to_not_convert ?? [];
  if (!Array.isArray(keep) || !keep.every((k) => typeof k === "string")) throw new FormatError(`${at}.modules_to_not_convert must be an array of module names`);
  return { bits, ...(groupSize === undefined ? {} : { groupSize }), keep: keep as string[] };
}
