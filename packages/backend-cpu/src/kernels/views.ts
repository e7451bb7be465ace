import { numel, stridesOf, Tensor } from "@densessm/core";
import { aroundAxis, broadcastStrides, runWalk, stridedIndex } from "./indexing-maps.js";
import type { KernelFactory } from "./types.js";

/** Reshape of a contiguous buffer is free: the output aliases the input's storage. */
export const reshapeKernel: KernelFactory = (node) => ([x]) => new Tensor(x!.data, node.shape, node.dtype);

/** A copy through a strided walk of the input: permute, slice and expand are all this. */
function stridedCopy(node: Parameters<KernelFactory>[0], strides: readonly number[], base = 0): ReturnType<KernelFactory> {
  const { run, runs, steps: [step], offsets: [starts] } = runWalk(node.shape, [strides], [base]);
  return ([x], alloc) => {
    const xd = x!.data;
    const o = alloc(node.dtype, run * runs);
    for (let r = 0, k = 0; r < runs; r++) for (let e = 0, i = starts![r]!; e < run; e++, k++, i += step!) o[k] = xd[i]!;
    return new Tensor(o, node.shape, node.dtype);
  };
}

export const permuteKernel: KernelFactory = (node, [x]) => {
  const strides = stridesOf(x!.shape);
  const perm = node.attrs.perm as readonly number[];
  return stridedCopy(node, perm.map((p) => strides[p]!));
};

export const sliceKernel: KernelFactory = (node, [x]) => {
  const strides = stridesOf(x!.shape);
  const starts = node.attrs.starts as readonly number[];
  return stridedCopy(node, strides, starts.reduce((acc, s, i) => acc + s * strides[i]!, 0));
};

export const expandKernel: KernelFactory = (node, [x]) => stridedCopy(node, broadcastStrides(x!.shape, node.shape));

export const concatKernel: KernelFactory = (node, inputs) => {
  const axis = node.attrs.axis as number;
  const [outer, total, inner] = aroundAxis(node.shape, axis);
  const widths = inputs.map((t) => t.shape[axis]! * inner);
  return (xs, alloc) => {
    const o = alloc(node.dtype, outer * total * inner);
    for (let p = 0; p < outer; p++) {
      let dst = p * total * inner;
      xs.forEach((x, t) => {
        const w = widths[t]!;
        o.set(x.data.subarray(p * w, p * w + w), dst);
        dst += w;
      });
    }
    return new Tensor(o, node.shape, node.dtype);
  };
};

export const padKernel: KernelFactory = (node, [x]) => {
  const pads = node.attrs.pads as readonly number[];
  const value = node.attrs.value as number;
  const outStrides = stridesOf(node.shape);
  const base = x!.shape.reduce((acc, _, i) => acc + pads[2 * i]! * outStrides[i]!, 0);
  const dst = stridedIndex(x!.shape, outStrides, base); // where each input element lands
  const n = numel(node.shape);
  return ([input], alloc) => {
    const o = alloc(node.dtype, n);
    o.fill(value);
    const xd = input!.data;
    for (let i = 0; i < dst.length; i++) o[dst[i]!] = xd[i]!;
    return new Tensor(o, node.shape, node.dtype);
  };
};
