import type { SymTensor, TensorLike } from "../graph/symbolic.js";
import { asSym, expectArity, input, normalizeAxes } from "./helpers.js";
import { defineOp, type GradRule, type TypeInfo } from "./registry.js";

export interface ReduceAttrs {
  readonly [key: string]: readonly number[] | boolean;
  /** Sorted, non-negative, unique axes. */
  readonly axes: readonly number[];
  readonly keepdims: boolean;
}

function reduction(name: string, doc: string, grad: GradRule<ReduceAttrs>) {
  return defineOp({
    name,
    kind: "primitive",
    doc,
    infer: (inputs: readonly TypeInfo[], attrs: ReduceAttrs) => {
      expectArity(inputs, 1, name);
      const x = input(inputs, 0, name);
      const axes = normalizeAxes(attrs.axes, x.shape.length, name);
      const shape = attrs.keepdims ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
      return { shape, dtype: x.dtype };
    },
    grad,
  });
}

/** The reduced gradient (or output), reshaped to keep the reduced axes as size 1. */
function keepDims(t: SymTensor, inputShape: readonly number[], axes: readonly number[]): SymTensor {
  return t.reshape(inputShape.map((d, i) => (axes.includes(i) ? 1 : d)));
}

export const SUM = reduction("sum", "sum over axes", ({ grad, inputs: [x], attrs }) => [keepDims(grad, x!.shape, attrs.axes).expand(x!.shape)]);

export const MAX = reduction("max", "max over axes; ties share the gradient evenly", ({ grad, inputs: [x], output, attrs }) => {
  const hit = x!.equal(keepDims(output, x!.shape, attrs.axes));
  const share = hit.div(hit.sum(attrs.axes, true));
  return [keepDims(grad, x!.shape, attrs.axes).mul(share)];
});

function reduce(def: typeof SUM, x: TensorLike, axes: number | readonly number[] | undefined, keepdims: boolean): SymTensor {
  const s = asSym(x);
  return s.builder.emit(def, [s], { axes: normalizeAxes(axes, s.rank, def.name), keepdims });
}

export const sum = (x: TensorLike, axes?: number | readonly number[], keepdims = false): SymTensor => reduce(SUM, x, axes, keepdims);
export const max = (x: TensorLike, axes?: number | readonly number[], keepdims = false): SymTensor => reduce(MAX, x, axes, keepdims);
