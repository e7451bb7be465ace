import { numel, stridesOf, type Shape } from "@densessm/core";

/**
 * The strides through which broadcasting reads a tensor of shape `shape` as `outShape`: 0 along
 * every axis it is repeated on (missing or of size 1).
 */
export function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const lead = outShape.length - shape.length;
  const srcStrides = stridesOf(shape);
  return outShape.map((_, i) => (i < lead || shape[i - lead] === 1 ? 0 : srcStrides[i - lead]!));
}

/**
 * For each element of `outShape` (row-major), the offset of the element of a tensor of shape `shape`
 * that broadcasting reads there. Computed once per node at compile time.
 */
export function broadcastIndex(shape: Shape, outShape: Shape): Int32Array {
  return stridedIndex(outShape, broadcastStrides(shape, outShape));
}

/**
 * A row-major walk over a shape that reads several operands, each through strides of its own, cut
 * into runs: output element `r * run + e` reads operand k at `offsets[k][r] + e * steps[k]`.
 * Axes every operand walks contiguously are merged first, so a run is as long as the layout allows
 * (the whole tensor for same-shape operands, a row for a row broadcast). The offset maps hold one
 * entry per run rather than per element: they stay in cache and the kernels' inner loops are
 * plain strided loops.
 */
export interface RunWalk {
  readonly run: number;
  readonly runs: number;
  readonly steps: readonly number[];
  readonly offsets: readonly Int32Array[];
}

export function runWalk(shape: Shape, strides: readonly (readonly number[])[], bases: readonly number[] = []): RunWalk {
  const merged: { size: number; strides: number[] }[] = [];
  shape.forEach((size, d) => {
    if (size === 1) return;
    const cur = strides.map((s) => s[d]!);
    const prev = merged[merged.length - 1];
    if (prev && prev.strides.every((s, k) => s === cur[k]! * size)) {
      prev.size *= size;
      prev.strides = cur;
    } else merged.push({ size, strides: cur });
  });
  const inner = merged.pop() ?? { size: numel(shape) === 0 ? 0 : 1, strides: strides.map(() => 0) };
  const outer = merged.map((m) => m.size);
  return {
    run: inner.size,
    runs: inner.size === 0 ? 0 : numel(outer),
    steps: inner.strides,
    offsets: strides.map((_, k) => stridedIndex(outer, merged.map((m) => m.strides[k]!), bases[k] ?? 0)),
  };
}

/** For a strided view (arbitrary per-axis strides and a base offset), the source offset of each element. */
export function stridedIndex(shape: Shape, strides: readonly number[], base = 0): Int32Array {
  const n = numel(shape);
  const out = new Int32Array(n);
  const rank = shape.length;
  const counter = new Array<number>(rank).fill(0);
  let offset = base;
  for (let i = 0; i < n; i++) {
    out[i] = offset;
    for (let d = rank - 1; d >= 0; d--) {
      counter[d]!++;
      offset += strides[d]!;
      if (counter[d]! < shape[d]!) break;
      offset -= strides[d]! * shape[d]!;
      counter[d] = 0;
    }
  }
  return out;
}

/** Splits a shape around `axis` into [outer, size, inner] element counts. */
export function aroundAxis(shape: Shape, axis: number): [number, number, number] {
  return [numel(shape.slice(0, axis)), shape[axis]!, numel(shape.slice(axis + 1))];
}
