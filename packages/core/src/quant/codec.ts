import { DenseSSMError, ShapeError } from "../errors.js";
import { float16BitsToFloat32, float32ToFloat16Bits } from "../tensor/dtype.js";
import { formatShape } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { quantizedLayout, type WeightQuantization } from "./format.js";

/** A quantized [rows, cols] matrix: codes and float16 scales, see format.ts. */
export interface QuantizedWeight {
  readonly codes: Tensor;
  readonly scale: Tensor;
}

/** The float16 value nearest to x, as a float32 number: scales are stored as float16. */
const toHalf = (x: number): number => float16BitsToFloat32(float32ToFloat16Bits(x));

/**
 * Round-to-nearest quantization of a float [rows, cols] matrix, calibration-free. 8 bits: scale =
 * max|w| / 127 per row. 4 bits: per group, the weight of largest magnitude m maps to code 0
 * (scale = m / -8, GGUF Q4_0's choice, which uses all 16 codes), unless another scale of the form
 * m / (-8 + k/4) gives a smaller squared error on the group (a short search that costs nothing at
 * load time). Codes are computed from the float16-rounded scale, so what is stored is what is used.
 */
export function quantizeWeight(w: Tensor, q: WeightQuantization): QuantizedWeight {
  if (w.rank !== 2) throw new ShapeError(`quantizeWeight: expected a [rows, cols] matrix, got ${formatShape(w.shape)}`);
  const [rows, cols] = w.shape as [number, number];
  const layout = quantizedLayout(q, rows, cols);
  const values = w.toFloat32();
  const scale = new Float32Array(rows * layout.groups);
  if (q.bits === 8) {
    const codes = new Int8Array(rows * cols);
    for (let r = 0; r < rows; r++) {
      const start = r * cols;
      let m = 0;
      for (let c = start; c < start + cols; c++) m = Math.max(m, Math.abs(values[c]!));
      const s = checkedScale(m / 127, r);
      scale[r] = s;
      const inv = s === 0 ? 0 : 1 / s;
      for (let c = start; c < start + cols; c++) codes[c] = Math.max(-127, Math.min(127, roundHalfAway(values[c]! * inv)));
    }
    return { codes: new Tensor(codes, layout.codesShape, "int8"), scale: new Tensor(scale, layout.scaleShape, "float32").to("float16") };
  }
  const g = q.groupSize;
  const codes = new Uint8Array(rows * layout.rowBytes);
  const group = new Float32Array(g);
  const nibbles = new Uint8Array(g);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < layout.groups; j++) {
      const start = r * cols + j * g;
      const n = Math.min(g, cols - j * g);
      group.fill(0);
      group.set(values.subarray(start, start + n));
      const s = bestGroupScale(group, r);
      scale[r * layout.groups + j] = s;
      encodeGroup(group, s, nibbles);
      const out = r * layout.rowBytes + (j * g) / 2;
      for (let k = 0; k < g; k += 2) codes[out + k / 2] = nibbles[k]! | (nibbles[k + 1]! << 4);
    }
  }
  return { codes: new Tensor(codes, layout.codesShape, "uint8"), scale: new Tensor(scale, layout.scaleShape, "float32").to("float16") };
}

/** The float [rows, cols] matrix a quantized one stands for (the reference the kernels must match). */
export function dequantizeWeight(weight: QuantizedWeight, q: WeightQuantization, cols: number): Tensor {
  const rows = weight.codes.shape[0]!;
  const layout = quantizedLayout(q, rows, cols);
  const codes = weight.codes.data;
  const scale = weight.scale.toFloat32();
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const s = scale[r * layout.groups + Math.floor(c / q.groupSize)]!;
      const code = q.bits === 8 ? codes[r * cols + c]! : (codes[r * layout.rowBytes + (c >> 1)]! >> (4 * (c & 1))) & 15;
      out[r * cols + c] = q.bits === 8 ? code * s : (code - 8) * s;
    }
  }
  return new Tensor(out, [rows, cols], "float32");
}

function checkedScale(raw: number, row: number): number {
  const s = toHalf(raw);
  if (!Number.isFinite(s)) throw new DenseSSMError(`quantizeWeight: row ${row} holds a non-finite value or one too large for a float16 scale (${raw * 127})`);
  return s;
}

const roundHalfAway = (x: number): number => (x < 0 ? -Math.round(-x) : Math.round(x));

/** The 4-bit code of v under scale 1/inv: round, shift by the zero point 8, clamp to 0..15. */
const code4 = (v: number, inv: number): number => Math.max(0, Math.min(15, roundHalfAway(v * inv) + 8));

function encodeGroup(group: Float32Array, s: number, out: Uint8Array): void {
  const inv = s === 0 ? 0 : 1 / s;
  for (let k = 0; k < group.length; k++) out[k] = code4(group[k]!, inv);
}

function groupError(group: Float32Array, s: number): number {
  const inv = s === 0 ? 0 : 1 / s;
  let e = 0;
  for (let k = 0; k < group.length; k++) {
    const v = group[k]!;
    const d = v - (code4(v, inv) - 8) * s;
    e += d * d;
  }
  return e;
}

/** Candidate scales m / (-8 + k/4), k = 0..8 (float16-rounded); the one with the least squared error. */
function bestGroupScale(group: Float32Array, row: number): number {
  let m = 0;
  for (let k = 0; k < group.length; k++) if (Math.abs(group[k]!) > Math.abs(m)) m = group[k]!;
  if (m === 0) return 0;
  let best = checkedScale(m / -8, row);
  let bestError = groupError(group, best);
  for (let k = 1; k <= 8; k++) {
    const s = toHalf(m / (-8 + k / 4));
    const e = groupError(group, s);
    if (e < bestError) [best, bestError] = [s, e];
  }
  return best;
}
