import { DTypeError, ShapeError } from "../errors.js";
import type { Attrs } from "../graph/graph.js";
import { builderOf, SymTensor, toSym, type TensorLike } from "../graph/symbolic.js";
import { isFloat, type DType } from "../tensor/dtype.js";
import { formatShape, normalizeAxis, type Shape } from "../tensor/shape.js";
import type { OpDef, TypeInfo } from "./registry.js";

/** Emits `def` on operands that may be numbers or parameters; numbers take the dtype of a tensor operand. */
export function emitOn(def: OpDef, operands: readonly TensorLike[], attrs: Attrs = {}): SymTensor {
  const builder = builderOf(...operands);
  const typed = operands.find((x): x is SymTensor => x instanceof SymTensor);
  const dtype: DType = typed?.dtype ?? "float32";
  return builder.emit(def, operands.map((x) => toSym(x, builder, dtype)), attrs);
}

export function input(inputs: readonly TypeInfo[], i: number, op: string): TypeInfo {
  const t = inputs[i];
  if (!t) throw new ShapeError(`${op}: missing input ${i}`);
  return t;
}

export function expectArity(inputs: readonly TypeInfo[], n: number, op: string): void {
  if (inputs.length !== n) throw new ShapeError(`${op}: expected ${n} inputs, got ${inputs.length}`);
}

export function expectFloat(t: TypeInfo, op: string, what = "input"): void {
  if (!isFloat(t.dtype)) throw new DTypeError(`${op}: ${what} must be a float tensor, got ${t.dtype}`);
}

export function expectSameDType(a: TypeInfo, b: TypeInfo, op: string): void {
  if (a.dtype !== b.dtype) throw new DTypeError(`${op}: operand dtypes differ (${a.dtype} vs ${b.dtype}); cast one first`);
}

/** Normalizes and de-duplicates reduction axes; undefined means all axes. */
export function normalizeAxes(axes: number | readonly number[] | undefined, rank: number, op: string): number[] {
  if (axes === undefined) return [...Array(rank).keys()];
  const list = typeof axes === "number" ? [axes] : axes;
  const out = [...new Set(list.map((a) => normalizeAxis(a, rank, op)))].sort((x, y) => x - y);
  return out;
}

/** Sums a broadcast gradient back down to `shape` (the adjoint of broadcasting). */
export function sumToShape(g: SymTensor, shape: Shape): SymTensor {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const lead = g.rank - shape.length;
  if (lead < 0) throw new ShapeError(`cannot reduce gradient of shape ${formatShape(g.shape)} to ${formatShape(shape)}`);
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  const summed = axes.length ? g.sum(axes, true) : g;
  return summed.reshape(shape);
}

/** A TensorLike as a node of the graph being traced. */
export function asSym(x: TensorLike): SymTensor {
  return toSym(x, builderOf(x));
}
