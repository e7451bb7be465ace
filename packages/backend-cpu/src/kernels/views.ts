import { numel, stridesOf, Tensor } from "@densessm/core";
import { aroundAxis, broadcastIndex, stridedIndex } from "./indexing-maps.js";
import type { KernelFactory } from "./types.js";

/** Reshape of a contiguous buffer is free: the output aliases the input's storage. */
export const reshapeKernel: KernelFactory = (node) => ([x]) => new Tensor(x!.data, node.shape, node.dtype);

/** A gather through a precomputed source-offset map: permute, slice and expand are all this. */
function gatherByMap(node: Parameters<KernelFactory>[0], map: Int32Array): ReturnType<KernelFactory> {
  return ([x], alloc) => {
    const xd = x!.data;
    const o = alloc(node.dtype, map.length);
    for (let i = 0; i < map.length; i++) o[i] = xd[map[i]!]!;
    return new Tensor(o, node.shape, node.dtype);
  };
}

export const permuteKernel: KernelFactory = (node, [x]) => {
  const strides = stridesOf(x!.shape);
  const perm = node.attrs.perm as readonly number[];
  return gatherByMap(node, stridedIndex(node.shape, perm.map((p) => strides[p]!)));
};

export const sliceKernel: KernelFactory = (node, [x]) => {
  const strides = stridesOf(x!.shape);
  const starts = node.attrs.starts as readonly number[];
  const base = starts.reduce((acc, s, i) => acc + s * strides[i]!, 0);
  return gatherByMap(node, stridedIndex(node.shape, strides, base));
};

export const expandKernel: KernelFactory = (node, [x]) => gatherByMap(node, broadcastIndex(x!.shape, node.shape));

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
