import type { OnnxGraphBuilder } from "../onnx/builder.js";
import { axisPads, scalarOf } from "./context.js";
import type { DType } from "@densessm/core";

/**
 * Lowers the linear recurrence h_t = a_t * h_(t-1) + b_t without a per-token ONNX Loop.
 *
 * Within a chunk of CHUNK steps we run a Hillis–Steele parallel scan: log2(CHUNK) rounds, each
 * composing every step with the one `d` steps earlier, (A, B)_t <- (A_t A_(t-d), A_t B_(t-d) + B_t),
 * all as whole-tensor elementwise ops. Chunk end states are then scanned the same way (recursively,
 * so any length works) and carried into each chunk with one multiply-add. Unlike the log-space
 * cumsum formulation (h_t = P_t * cumsum(b / P)), nothing is divided by a running product, so
 * decays near zero (or exactly zero, as the gradient's shifted scan has) and negative factors are
 * exact; the only change from a sequential loop is the order of the float additions.
 *
 * Cost: about 7 elementwise passes per round over the tensor, log2(CHUNK) rounds, plus two passes
 * to carry chunk states — versus T iterations of a Loop body, each paying onnxruntime's per-node
 * dispatch (which made a per-token Loop many times slower than real time on long prompts).
 */
export const SCAN_CHUNK = 16;

interface Operand {
  readonly name: string;
  readonly shape: readonly number[];
}

function sliceAxis(g: OnnxGraphBuilder, x: string, axis: number, start: number, end: number): string {
  return g.op("Slice", [x, g.int64s([start]), g.int64s([end]), g.int64s([axis])]);
}

/** x shifted `d` steps later along `axis`, the first `d` steps filled with `fill`. */
function shift(g: OnnxGraphBuilder, x: Operand, axis: number, d: number, fill: number, dtype: DType): string {
  const n = x.shape[axis]!;
  const kept = sliceAxis(g, x.name, axis, 0, n - d);
  return g.op("Pad", [kept, g.int64s(axisPads(x.shape.length, axis, d, 0)), scalarOf(g, dtype, fill)]);
}

/**
 * Hillis–Steele inclusive scan from a zero state along `axis`. Returns h, and the running product
 * of `a` when `wantProduct` (the chunk-level pass needs it).
 */
function hillisSteele(g: OnnxGraphBuilder, a: Operand, b: Operand, axis: number, dtype: DType, wantProduct: boolean): { h: string; product: string } {
  const n = a.shape[axis]!;
  let A = a.name;
  let B = b.name;
  for (let d = 1; d < n; d *= 2) {
    const shiftedB = shift(g, { name: B, shape: b.shape }, axis, d, 0, dtype);
    B = g.op("Add", [B, g.op("Mul", [A, shiftedB])]);
    if (wantProduct || 2 * d < n) {
      const shiftedA = shift(g, { name: A, shape: a.shape }, axis, d, 1, dtype);
      A = g.op("Mul", [A, shiftedA]);
    }
  }
  return { h: B, product: A };
}

/** Forward scan from a zero state; a and b share `shape`. */
function scanFromZero(g: OnnxGraphBuilder, a: string, b: string, shape: readonly number[], axis: number, dtype: DType, wantProduct = false): { h: string; product: string } {
  const n = shape[axis]!;
  if (n <= SCAN_CHUNK) return hillisSteele(g, { name: a, shape }, { name: b, shape }, axis, dtype, wantProduct);

  // Pad to whole chunks with identity steps (a = 1, b = 0), then split the axis in two.
  const chunks = Math.ceil(n / SCAN_CHUNK);
  const padded = chunks * SCAN_CHUNK;
  const pa = padded === n ? a : g.op("Pad", [a, g.int64s(axisPads(shape.length, axis, 0, padded - n)), scalarOf(g, dtype, 1)]);
  const pb = padded === n ? b : g.op("Pad", [b, g.int64s(axisPads(shape.length, axis, 0, padded - n)), scalarOf(g, dtype, 0)]);
  const split = [...shape.slice(0, axis), chunks, SCAN_CHUNK, ...shape.slice(axis + 1)];
  const splitShape = g.int64s(split);
  const local = hillisSteele(g, { name: g.op("Reshape", [pa, splitShape]), shape: split }, { name: g.op("Reshape", [pb, splitShape]), shape: split }, axis + 1, dtype, true);

  // Each chunk's end state (from zero) and total decay, scanned across chunks.
  const endShape = [...shape.slice(0, axis), chunks, ...shape.slice(axis + 1)];
  const lastOf = (x: string) => g.op("Reshape", [sliceAxis(g, x, axis + 1, SCAN_CHUNK - 1, SCAN_CHUNK), g.int64s(endShape)]);
  const across = scanFromZero(g, lastOf(local.product), lastOf(local.h), endShape, axis, dtype, wantProduct);

  // The state entering chunk k is the end state of chunk k-1 (zero for the first chunk).
  const entering = shift(g, { name: across.h, shape: endShape }, axis, 1, 0, dtype);
  const keep = [...shape.slice(0, axis), chunks, 1, ...shape.slice(axis + 1)];
  const carried = g.op("Mul", [local.product, g.op("Reshape", [entering, g.int64s(keep)])]);
  const flat = [...shape.slice(0, axis), padded, ...shape.slice(axis + 1)];
  let h = g.op("Reshape", [g.op("Add", [local.h, carried]), g.int64s(flat)]);
  if (padded !== n) h = sliceAxis(g, h, axis, 0, n);

  let product = "";
  if (wantProduct) {
    const enteringA = shift(g, { name: across.product, shape: endShape }, axis, 1, 1, dtype);
    const total = g.op("Mul", [local.product, g.op("Reshape", [enteringA, g.int64s(keep)])]);
    product = g.op("Reshape", [total, g.int64s(flat)]);
    if (padded !== n) product = sliceAxis(g, product, axis, 0, n);
  }
  return { h, product };
}

/** Reverses `axis` (a Slice with step -1). */
function flip(g: OnnxGraphBuilder, x: string, axis: number, n: number): string {
  return g.op("Slice", [x, g.int64s([n - 1]), g.int64s([-(n + 1)]), g.int64s([axis]), g.int64s([-1])]);
}

/** The IR's scan primitive as ONNX ops; `name` goes on the final node. */
export function lowerScan(
  g: OnnxGraphBuilder,
  options: { a: string; b: string; h0?: string | undefined; shape: readonly number[]; axis: number; reverse: boolean; dtype: DType; name: string },
): string {
  const { shape, axis, reverse, dtype } = options;
  const n = shape[axis]!;
  if (n === 0) return g.op("Identity", [options.b], undefined, { name: options.name });
  const a = reverse ? flip(g, options.a, axis, n) : options.a;
  let b = reverse ? flip(g, options.b, axis, n) : options.b;
  if (options.h0 !== undefined) {
    // Fold the initial state into the first step: b_0 += a_0 * h0, then scan from zero.
    const h0 = g.op("Unsqueeze", [options.h0, g.int64s([axis])]);
    const firstA = n === 1 ? a : sliceAxis(g, a, axis, 0, 1);
    const firstB = n === 1 ? b : sliceAxis(g, b, axis, 0, 1);
    const first = g.op("Add", [firstB, g.op("Mul", [firstA, h0])]);
    b = n === 1 ? first : g.op("Concat", [first, sliceAxis(g, b, axis, 1, n)], { axis: { kind: "int", value: axis } });
  }
  if (n === 1) return g.op("Identity", [b], undefined, { name: options.name });
  const { h } = scanFromZero(g, a, b, shape, axis, dtype);
  return g.op("Identity", [reverse ? flip(g, h, axis, n) : h], undefined, { name: options.name });
}
