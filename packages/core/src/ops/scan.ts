import { ShapeError } from "../errors.js";
import type { SymTensor, TensorLike } from "../graph/symbolic.js";
import { formatShape, normalizeAxis, sameShape } from "../tensor/shape.js";
import { asSym, expectFloat, input } from "./helpers.js";
import { defineOp, type TypeInfo } from "./registry.js";
import { concat, padAxis } from "./views.js";

export interface ScanAttrs {
  readonly [key: string]: number | boolean;
  readonly axis: number;
  /** Run from the last step to the first: h_t = a_t * h_(t+1) + b_t. */
  readonly reverse: boolean;
}

/**
 * The linear recurrence h_t = a_t * h_(t-1) + b_t along `axis`, elementwise over every other axis,
 * starting from h0 (zeros when not given). RetNet's retention state (a = decay, b = k^T v) and
 * Mamba's SSM state (a = exp(dt*A), b = dt*B*x) are both instances, so one primitive serves both,
 * and a backend gets every model's recurrence from one kernel.
 *
 * Its gradient is the same scan run backwards: with adjoint l_t = g_t + a_(t+1) l_(t+1),
 * db_t = l_t, da_t = l_t * h_(t-1), dh0 = a_first * l_first.
 */
export const SCAN = defineOp({
  name: "scan",
  kind: "primitive",
  doc: "linear recurrence h_t = a_t * h_(t-1) + b_t along an axis",
  infer: (inputs: readonly TypeInfo[], attrs: ScanAttrs) => {
    if (inputs.length !== 2 && inputs.length !== 3) throw new ShapeError(`scan: expected inputs (a, b) or (a, b, h0), got ${inputs.length}`);
    const a = input(inputs, 0, "scan");
    const b = input(inputs, 1, "scan");
    expectFloat(a, "scan", "a");
    expectFloat(b, "scan", "b");
    if (!sameShape(a.shape, b.shape)) throw new ShapeError(`scan: a ${formatShape(a.shape)} and b ${formatShape(b.shape)} must have the same shape`);
    const axis = normalizeAxis(attrs.axis, a.shape.length, "scan");
    const h0 = inputs[2];
    if (h0) {
      const expected = a.shape.filter((_, i) => i !== axis);
      if (!sameShape(h0.shape, expected)) throw new ShapeError(`scan: h0 must have shape ${formatShape(expected)} (a's shape without axis ${axis}), got ${formatShape(h0.shape)}`);
    }
    return { shape: a.shape, dtype: a.dtype };
  },
  grad: ({ grad, inputs, output, attrs }) => {
    const [a, , h0] = inputs as [SymTensor, SymTensor, SymTensor | undefined];
    const { axis, reverse } = attrs;
    const len = a.shape[axis]!;
    // a shifted one step toward the scan's future: the factor that carries l_(next) back to l_t.
    const aNext = reverse ? padAxis(a.slice(axis, 0, len - 1), axis, 1, 0) : padAxis(a.slice(axis, 1), axis, 0, 1);
    const adjoint = scan(aNext, grad, { axis, reverse: !reverse });
    // h_(t-1): the previous state each step saw (h0, or zeros, at the first step).
    const first = h0 ? h0.unsqueeze(axis) : undefined;
    const prev = reverse
      ? first
        ? concat([output.slice(axis, 1), first], axis)
        : padAxis(output.slice(axis, 1), axis, 0, 1)
      : first
        ? concat([first, output.slice(axis, 0, len - 1)], axis)
        : padAxis(output.slice(axis, 0, len - 1), axis, 1, 0);
    const firstStep = reverse ? len - 1 : 0;
    const dh0 = h0 ? a.slice(axis, firstStep, firstStep + 1).mul(adjoint.slice(axis, firstStep, firstStep + 1)).squeeze(axis) : undefined;
    return [adjoint.mul(prev), adjoint, dh0];
  },
});

export function scan(a: TensorLike, b: TensorLike, options: { axis: number; reverse?: boolean; h0?: TensorLike }): SymTensor {
  const sa = asSym(a);
  const inputs = [sa, asSym(b)];
  if (options.h0 !== undefined) inputs.push(asSym(options.h0));
  return sa.builder.emit(SCAN, inputs, { axis: normalizeAxis(options.axis, sa.rank, "scan"), reverse: options.reverse ?? false });
}
