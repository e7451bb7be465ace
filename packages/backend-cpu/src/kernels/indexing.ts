import { BackendError, formatShape, Tensor } from "@densessm/core";
import { aroundAxis } from "./indexing-maps.js";
import type { KernelFactory } from "./types.js";

function checkIndex(v: number, size: number, at: number, op: string): void {
  if (!(v >= 0 && v < size)) throw new BackendError(`${op}: index ${v} at position ${at} is out of range [0, ${size})`);
}

/** take(x, idx, axis): copies contiguous inner blocks, one per (outer, index) pair. */
export const gatherKernel: KernelFactory = (node, [x, idx]) => {
  const axis = node.attrs.axis as number;
  const [outer, size, inner] = aroundAxis(x!.shape, axis);
  const count = idx!.shape.reduce((n, d) => n * d, 1);
  return ([table, indices], alloc) => {
    const td = table!.data;
    const id = indices!.data;
    const o = alloc(node.dtype, outer * count * inner);
    for (let p = 0; p < outer; p++)
      for (let j = 0; j < count; j++) {
        const v = id[j]!;
        checkIndex(v, size, j, "gather");
        const src = (p * size + v) * inner;
        o.set(td.subarray(src, src + inner), (p * count + j) * inner);
      }
    return new Tensor(o, node.shape, node.dtype);
  };
};

/** The adjoint of gather: accumulates source blocks into a zeroed output. */
export const scatterAddKernel: KernelFactory = (node, [src, idx]) => {
  const axis = node.attrs.axis as number;
  const size = node.attrs.size as number;
  const count = idx!.shape.reduce((n, d) => n * d, 1);
  const [outer, , inner] = aroundAxis(node.shape, axis);
  if (outer * count * inner !== src!.shape.reduce((n, d) => n * d, 1)) throw new BackendError(`scatterAdd: source ${formatShape(src!.shape)} does not match indices ${formatShape(idx!.shape)}`);
  return ([source, indices], alloc) => {
    const sd = source!.data;
    const id = indices!.data;
    const o = alloc(node.dtype, outer * size * inner);
    o.fill(0);
    for (let p = 0; p < outer; p++)
      for (let j = 0; j < count; j++) {
        const v = id[j]!;
        checkIndex(v, size, j, "scatterAdd");
        const from = (p * count + j) * inner;
        const to = (p * size + v) * inner;
        for (let q = 0; q < inner; q++) o[to + q]! += sd[from + q]!;
      }
    return new Tensor(o, node.shape, node.dtype);
  };
};
