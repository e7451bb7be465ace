import { ShapeError } from "../errors.js";
import type { SymTensor, TensorLike } from "../graph/symbolic.js";
import { formatShape, normalizeAxis, numel } from "../tensor/shape.js";
import { asSym, expectArity, input, sumToShape } from "./helpers.js";
import { defineOp, type TypeInfo } from "./registry.js";

// Views change how elements are indexed, never their values. A backend may implement them without
// copying (reshape is free for contiguous buffers); the IR does not care.

export const RESHAPE = defineOp({
  name: "reshape",
  kind: "primitive",
  doc: "same elements in row-major order, new shape",
  infer: (inputs: readonly TypeInfo[], attrs: { shape: readonly number[] }) => {
    expectArity(inputs, 1, "reshape");
    const x = input(inputs, 0, "reshape");
    if (numel(attrs.shape) !== numel(x.shape)) throw new ShapeError(`reshape: cannot reshape ${formatShape(x.shape)} (${numel(x.shape)} elements) to ${formatShape(attrs.shape)}`);
    return { shape: attrs.shape, dtype: x.dtype };
  },
  grad: ({ grad, inputs: [x] }) => [grad.reshape(x!.shape)],
});

export function reshape(x: TensorLike, shape: readonly number[]): SymTensor {
  const s = asSym(x);
  const unknown = shape.filter((d) => d === -1).length;
  if (unknown > 1 || shape.some((d) => !Number.isInteger(d) || d < -1)) throw new ShapeError(`reshape: invalid target shape ${formatShape(shape)}`);
  let resolved = [...shape];
  if (unknown === 1) {
    const known = numel(shape.filter((d) => d !== -1));
    if (known === 0 || numel(s.shape) % known !== 0) throw new ShapeError(`reshape: cannot reshape ${formatShape(s.shape)} to ${formatShape(shape)}`);
    resolved = shape.map((d) => (d === -1 ? numel(s.shape) / known : d));
  }
  if (resolved.length === s.rank && resolved.every((d, i) => d === s.shape[i])) return s;
  return s.builder.emit(RESHAPE, [s], { shape: resolved });
}

export const unsqueeze = (x: TensorLike, axis: number): SymTensor => {
  const s = asSym(x);
  const a = normalizeAxis(axis, s.rank + 1, "unsqueeze");
  return reshape(s, [...s.shape.slice(0, a), 1, ...s.shape.slice(a)]);
};

export const squeeze = (x: TensorLike, axis: number): SymTensor => {
  const s = asSym(x);
  const a = normalizeAxis(axis, s.rank, "squeeze");
  if (s.shape[a] !== 1) throw new ShapeError(`squeeze: axis ${axis} of ${formatShape(s.shape)} has size ${s.shape[a]}, not 1`);
  return reshape(s, s.shape.filter((_, i) => i !== a));
};

export const PERMUTE = defineOp({
  name: "permute",
  kind: "primitive",
  doc: "reorders axes: out.shape[i] = x.shape[perm[i]]",
  infer: (inputs: readonly TypeInfo[], attrs: { perm: readonly number[] }) => {
    expectArity(inputs, 1, "permute");
    const x = input(inputs, 0, "permute");
    const { perm } = attrs;
    const valid = perm.length === x.shape.length && [...perm].sort((a, b) => a - b).every((p, i) => p === i);
    if (!valid) throw new ShapeError(`permute: [${perm.join(", ")}] is not a permutation of the ${x.shape.length} axes of ${formatShape(x.shape)}`);
    return { shape: perm.map((p) => x.shape[p]!), dtype: x.dtype };
  },
  grad: ({ grad, attrs }) => {
    const inverse = new Array<number>(attrs.perm.length);
    attrs.perm.forEach((p, i) => (inverse[p] = i));
    return [grad.permute(inverse)];
  },
});

export function permute(x: TensorLike, perm: readonly number[]): SymTensor {
  const s = asSym(x);
  const normalized = perm.map((p) => normalizeAxis(p, s.rank, "permute"));
  if (normalized.every((p, i) => p === i)) return s;
  return s.builder.emit(PERMUTE, [s], { perm: normalized });
}

export function transpose(x: TensorLike, a = -2, b = -1): SymTensor {
  const s = asSym(x);
  const perm = [...Array(s.rank).keys()];
  const i = normalizeAxis(a, s.rank, "transpose");
  const j = normalizeAxis(b, s.rank, "transpose");
  [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  return permute(s, perm);
}

export const SLICE = defineOp({
  name: "slice",
  kind: "primitive",
  doc: "x[starts[0]:ends[0], starts[1]:ends[1], ...] (unit step)",
  infer: (inputs: readonly TypeInfo[], attrs: { starts: readonly number[]; ends: readonly number[] }) => {
    expectArity(inputs, 1, "slice");
    const x = input(inputs, 0, "slice");
    const { starts, ends } = attrs;
    if (starts.length !== x.shape.length || ends.length !== x.shape.length) throw new ShapeError(`slice: need one start and end per axis of ${formatShape(x.shape)}`);
    const shape = x.shape.map((d, i) => {
      const s = starts[i]!;
      const e = ends[i]!;
      if (!(0 <= s && s <= e && e <= d)) throw new ShapeError(`slice: range ${s}:${e} is out of bounds for axis ${i} of ${formatShape(x.shape)}`);
      return e - s;
    });
    return { shape, dtype: x.dtype };
  },
  grad: ({ grad, inputs: [x], attrs }) => [pad(grad, x!.shape.flatMap((d, i) => [attrs.starts[i]!, d - attrs.ends[i]!]), 0)],
});

/** x[start:end] along one axis; negative indices count from the end, like Python. */
export function sliceAxis(x: TensorLike, axis: number, start: number, end?: number): SymTensor {
  const s = asSym(x);
  const a = normalizeAxis(axis, s.rank, "slice");
  const d = s.shape[a]!;
  const lo = start < 0 ? start + d : start;
  const hi = end === undefined ? d : end < 0 ? end + d : end;
  if (lo === 0 && hi === d) return s;
  const starts = s.shape.map((_, i) => (i === a ? lo : 0));
  const ends = s.shape.map((dim, i) => (i === a ? hi : dim));
  return s.builder.emit(SLICE, [s], { starts, ends });
}

export const EXPAND = defineOp({
  name: "expand",
  kind: "primitive",
  doc: "broadcasts size-1 axes (and new leading axes) to a larger shape",
  infer: (inputs: readonly TypeInfo[], attrs: { shape: readonly number[] }) => {
    expectArity(inputs, 1, "expand");
    const x = input(inputs, 0, "expand");
    const lead = attrs.shape.length - x.shape.length;
    const ok = lead >= 0 && x.shape.every((d, i) => d === attrs.shape[lead + i] || d === 1);
    if (!ok) throw new ShapeError(`expand: cannot broadcast ${formatShape(x.shape)} to ${formatShape(attrs.shape)}`);
    return { shape: attrs.shape, dtype: x.dtype };
  },
  grad: ({ grad, inputs: [x] }) => [sumToShape(grad, x!.shape)],
});

export function expand(x: TensorLike, shape: readonly number[]): SymTensor {
  const s = asSym(x);
  if (shape.length === s.rank && shape.every((d, i) => d === s.shape[i])) return s;
  return s.builder.emit(EXPAND, [s], { shape: [...shape] });
}

export const CONCAT = defineOp({
  name: "concat",
  kind: "primitive",
  doc: "joins tensors along an axis",
  infer: (inputs: readonly TypeInfo[], attrs: { axis: number }) => {
    if (inputs.length === 0) throw new ShapeError("concat: needs at least one input");
    const first = inputs[0]!;
    const axis = normalizeAxis(attrs.axis, first.shape.length, "concat");
    let total = 0;
    for (const t of inputs) {
      const ok = t.dtype === first.dtype && t.shape.length === first.shape.length && t.shape.every((d, i) => i === axis || d === first.shape[i]);
      if (!ok) throw new ShapeError(`concat: ${t.dtype} ${formatShape(t.shape)} does not fit beside ${first.dtype} ${formatShape(first.shape)} along axis ${axis}`);
      total += t.shape[axis]!;
    }
    return { shape: first.shape.map((d, i) => (i === axis ? total : d)), dtype: first.dtype };
  },
  grad: ({ grad, inputs, attrs }) => {
    let offset = 0;
    return inputs.map((x) => {
      const size = x.shape[attrs.axis]!;
      const g = grad.slice(attrs.axis, offset, offset + size);
      offset += size;
      return g;
    });
  },
});

export function concat(xs: readonly TensorLike[], axis: number): SymTensor {
  const syms = xs.map(asSym);
  if (syms.length === 1) return syms[0]!;
  const first = syms[0];
  if (!first) throw new ShapeError("concat: needs at least one input");
  return first.builder.emit(CONCAT, syms, { axis: normalizeAxis(axis, first.rank, "concat") });
}

export const PAD = defineOp({
  name: "pad",
  kind: "primitive",
  doc: "pads each axis with [before, after] copies of a constant",
  infer: (inputs: readonly TypeInfo[], attrs: { pads: readonly number[]; value: number }) => {
    expectArity(inputs, 1, "pad");
    const x = input(inputs, 0, "pad");
    const { pads } = attrs;
    if (pads.length !== 2 * x.shape.length || pads.some((p) => !Number.isInteger(p) || p < 0)) {
      throw new ShapeError(`pad: need non-negative [before, after] pairs for each axis of ${formatShape(x.shape)}, got [${pads.join(", ")}]`);
    }
    return { shape: x.shape.map((d, i) => d + pads[2 * i]! + pads[2 * i + 1]!), dtype: x.dtype };
  },
  grad: ({ grad, inputs: [x], attrs }) => {
    const starts = x!.shape.map((_, i) => attrs.pads[2 * i]!);
    const ends = x!.shape.map((d, i) => attrs.pads[2 * i]! + d);
    return [grad.builder.emit(SLICE, [grad], { starts, ends })];
  },
});

/** Pads with `value`; `pads` holds [before, after] for every axis, flattened. */
export function pad(x: TensorLike, pads: readonly number[], value = 0): SymTensor {
  const s = asSym(x);
  if (pads.every((p) => p === 0) && pads.length === 2 * s.rank) return s;
  return s.builder.emit(PAD, [s], { pads: [...pads], value });
}

/** Pads one axis. */
export function padAxis(x: TensorLike, axis: number, before: number, after: number, value = 0): SymTensor {
  const s = asSym(x);
  const a = normalizeAxis(axis, s.rank, "pad");
  return pad(s, s.shape.flatMap((_, i) => (i === a ? [before, after] : [0, 0])), value);
}
