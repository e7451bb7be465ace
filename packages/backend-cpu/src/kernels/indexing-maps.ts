import { numel, stridesOf, type Shape } from "@densessm/core";

/**
 * For each element of `outShape` (row-major), the offset of the element of a tensor of shape `shape`
 * that broadcasting reads there. Computed once per node at compile time.
 */
export function broadcastIndex(shape: Shape, outShape: Shape): Int32Array {
  const n = numel(outShape);
  const out = new Int32Array(n);
  const rank = outShape.length;
  const lead = rank - shape.length;
  const srcStrides = stridesOf(shape);
  const strides = outShape.map((_, i) => (i < lead || shape[i - lead] === 1 ? 0 : srcStrides[i - lead]!));
  const counter = new Array<number>(rank).fill(0);
  let offset = 0;
  for (let i = 0; i < n; i++) {
    out[i] = offset;
    for (let d = rank - 1; d >= 0; d--) {
      counter[d]!++;
      offset += strides[d]!;
      if (counter[d]! < outShape[d]!) break;
      offset -= strides[d]! * outShape[d]!;
      counter[d] = 0;
    }
  }
  return out;
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
