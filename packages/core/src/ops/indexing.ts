import { DTypeError, ShapeError } from "../errors.js";
import type { SymTensor, TensorLike } from "../graph/symbolic.js";
import { formatShape, normalizeAxis } from "../tensor/shape.js";
import { asSym, expectArity, input } from "./helpers.js";
import { defineOp, type TypeInfo } from "./registry.js";

function checkIndices(idx: TypeInfo, op: string): void {
  if (idx.dtype !== "int32") throw new DTypeError(`${op}: indices must be int32, got ${idx.dtype}`);
}

/**
 * NumPy's `take`: out = x.shape[:axis] + idx.shape + x.shape[axis+1:]. An embedding lookup is
 * gather(table, ids, 0). Backends raise an error naming any index outside [0, x.shape[axis]).
 */
export const GATHER = defineOp({
  name: "gather",
  kind: "primitive",
  doc: "take(x, idx, axis): rows of x selected by int32 indices",
  infer: (inputs: readonly TypeInfo[], attrs: { axis: number }) => {
    expectArity(inputs, 2, "gather");
    const x = input(inputs, 0, "gather");
    const idx = input(inputs, 1, "gather");
    checkIndices(idx, "gather");
    const a = normalizeAxis(attrs.axis, x.shape.length, "gather");
    return { shape: [...x.shape.slice(0, a), ...idx.shape, ...x.shape.slice(a + 1)], dtype: x.dtype };
  },
  grad: ({ grad, inputs: [x, idx], attrs }) => [scatterAdd(grad, idx!, attrs.axis, x!.shape[attrs.axis]!), undefined],
});

/** The adjoint of gather: sums slices of `src` into `size` rows at the given indices. */
export const SCATTER_ADD = defineOp({
  name: "scatterAdd",
  kind: "primitive",
  doc: "adjoint of gather: out[.., idx[j], ..] += src[.., j, ..] into a zero tensor of `size` rows",
  infer: (inputs: readonly TypeInfo[], attrs: { axis: number; size: number }) => {
    expectArity(inputs, 2, "scatterAdd");
    const src = input(inputs, 0, "scatterAdd");
    const idx = input(inputs, 1, "scatterAdd");
    checkIndices(idx, "scatterAdd");
    const a = attrs.axis;
    const r = idx.shape.length;
    const ok = a >= 0 && src.shape.length >= a + r && idx.shape.every((d, i) => src.shape[a + i] === d);
    if (!ok || !Number.isInteger(attrs.size) || attrs.size < 0) {
      throw new ShapeError(`scatterAdd: source ${formatShape(src.shape)} does not hold indices ${formatShape(idx.shape)} at axis ${a}`);
    }
    return { shape: [...src.shape.slice(0, a), attrs.size, ...src.shape.slice(a + r)], dtype: src.dtype };
  },
  grad: ({ grad, inputs: [, idx], attrs }) => [gather(grad, idx!, attrs.axis), undefined],
});

export function gather(x: TensorLike, indices: TensorLike, axis = 0): SymTensor {
  const s = asSym(x);
  const i = asSym(indices);
  return s.builder.emit(GATHER, [s, i], { axis: normalizeAxis(axis, s.rank, "gather") });
}

export function scatterAdd(src: TensorLike, indices: TensorLike, axis: number, size: number): SymTensor {
  const s = asSym(src);
  const i = asSym(indices);
  return s.builder.emit(SCATTER_ADD, [s, i], { axis, size });
}
