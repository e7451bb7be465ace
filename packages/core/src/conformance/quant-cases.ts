import { dequantize, quantizedMatmul, type QuantAttrs } from "../quant/ops.js";
import { Rng } from "../runtime/rng.js";
import { numel } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import type { OpConformanceSpec } from "./op-cases.js";
import { unravel, type Ref } from "./reference.js";

// The quantized ops against a float64 reference that decodes each code by the documented layout
// (format.ts): int8 codes times the row's scale; 4-bit codes two per byte, even column in the low
// nibble, minus 8, times the group's scale. Shapes cover padded last groups, leading batch axes and
// sizes past the CPU kernels' vector widths (with tails).

/** Dequantized weight [..., rows, cols] of codes/scale refs, spelled out element by element. */
function dequantizeRef(codes: Ref, scale: Ref, a: QuantAttrs): Ref {
  const lead = codes.shape.slice(0, -1);
  const [rowBytes, groups] = [codes.shape.at(-1)!, scale.shape.at(-1)!];
  const shape = [...lead, a.cols];
  const data = Array.from({ length: numel(shape) }, (_, i) => {
    const c = i % a.cols;
    const row = (i - c) / a.cols; // flat index over the leading axes and rows
    const s = scale.data[row * groups + Math.floor(c / a.groupSize)]!;
    if (a.bits === 8) return codes.data[row * rowBytes + c]! * s;
    const byte = codes.data[row * rowBytes + Math.floor(c / 2)]!;
    return ((c % 2 === 0 ? byte % 16 : Math.floor(byte / 16)) - 8) * s;
  });
  return { shape, data };
}

/** x [..., M, cols] @ Wᵀ for the dequantized W [rows, cols]. */
function quantizedMatmulRef(x: Ref, codes: Ref, scale: Ref, a: QuantAttrs): Ref {
  const w = dequantizeRef(codes, scale, a);
  const rows = w.shape[0]!;
  const shape = [...x.shape.slice(0, -1), rows];
  const data = Array.from({ length: numel(shape) }, (_, i) => {
    const idx = unravel(i, shape);
    const n = idx.at(-1)!;
    const xRow = (i - n) / rows;
    let s = 0;
    for (let k = 0; k < a.cols; k++) s += x.data[xRow * a.cols + k]! * w.data[n * a.cols + k]!;
    return s;
  });
  return { shape, data };
}

export function quantSpecs(): OpConformanceSpec[] {
  const rng = new Rng(1717);
  const floats = (shape: number[], lo = -1, hi = 1) => Tensor.float32(Array.from({ length: numel(shape) }, () => lo + (hi - lo) * rng.uniform()), shape);
  const int8 = (shape: number[]) => new Tensor(Int8Array.from({ length: numel(shape) }, () => rng.int(255) - 127), shape, "int8");
  const uint8 = (shape: number[]) => new Tensor(Uint8Array.from({ length: numel(shape) }, () => rng.int(256)), shape, "uint8");
  // Scales of both signs (4-bit scales are negative when a group's extreme weight is positive),
  // sized like a trained model's: weights within about ±0.25 (int8) and ±0.4 (4-bit).
  const scales = (shape: number[], bits: 8 | 4) => floats(shape, bits === 8 ? -0.002 : -0.05, bits === 8 ? 0.002 : 0.05);

  const dq = (name: string, a: QuantAttrs, codes: Tensor, scale: Tensor): OpConformanceSpec => ({
    name,
    op: "dequantize",
    inputs: [codes, scale],
    fn: ([c, s]) => dequantize(c!, s!, a),
    expected: ([c, s]) => dequantizeRef(c!, s!, a),
    gradInputs: [],
  });
  const qmm = (name: string, a: QuantAttrs, x: Tensor, codes: Tensor, scale: Tensor): OpConformanceSpec => ({
    name,
    op: "quantizedMatmul",
    inputs: [x, codes, scale],
    fn: ([v, c, s]) => quantizedMatmul(v!, c!, s!, a),
    expected: ([v, c, s]) => quantizedMatmulRef(v!, c!, s!, a),
    // Kernels may round the activations to 16-bit integers per block of columns (backend-cpu's
    // SIMD kernels do: 2^-16 of the block's largest |x|), so products are checked to 1e-4.
    tol: 1e-4,
    gradInputs: [0],
  });
  const int8Attrs = (cols: number): QuantAttrs => ({ bits: 8, groupSize: cols, cols });
  const q4 = (groupSize: number, cols: number): QuantAttrs => ({ bits: 4, groupSize, cols });
  return [
    dq("dequantize int8", int8Attrs(5), int8([3, 5]), scales([3, 1], 8)),
    dq("dequantize 4-bit, batch axis, padded last group", q4(4, 10), uint8([2, 3, 6]), scales([2, 3, 3], 4)),
    qmm("quantizedMatmul int8", int8Attrs(5), floats([2, 3, 5]), int8([4, 5]), scales([4, 1], 8)),
    qmm("quantizedMatmul int8 matvec past vector width", int8Attrs(70), floats([1, 70]), int8([11, 70]), scales([11, 1], 8)),
    qmm("quantizedMatmul int8 rows x tails", int8Attrs(37), floats([2, 5, 37]), int8([9, 37]), scales([9, 1], 8)),
    qmm("quantizedMatmul 4-bit padded group", q4(4, 6), floats([2, 6]), uint8([5, 4]), scales([5, 2], 4)),
    qmm("quantizedMatmul 4-bit matvec, groups of 32", q4(32, 96), floats([1, 96]), uint8([13, 48]), scales([13, 3], 4)),
    qmm("quantizedMatmul 4-bit rows, groups of 64, padded", q4(64, 100), floats([3, 2, 100]), uint8([6, 64]), scales([6, 2], 4)),
  ];
}
