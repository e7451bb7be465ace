import { convert, hashUniform, Tensor, type DType } from "@densessm/core";
import { aroundAxis } from "./indexing-maps.js";
import type { KernelFactory } from "./types.js";

export const castKernel: KernelFactory = (node) => ([x]) => new Tensor(convert(x!.data, x!.dtype, node.dtype), node.shape, node.dtype as DType);

/** h_t = a_t h_(t-1) + b_t along the axis, vectorised over the contiguous inner block. */
export const scanKernel: KernelFactory = (node) => {
  const axis = node.attrs.axis as number;
  const reverse = node.attrs.reverse as boolean;
  const [outer, steps, inner] = aroundAxis(node.shape, axis);
  return ([a, b, h0], alloc) => {
    const ad = a!.data, bd = b!.data;
    const o = alloc(node.dtype, outer * steps * inner);
    for (let p = 0; p < outer; p++) {
      for (let s = 0; s < steps; s++) {
        const t = reverse ? steps - 1 - s : s;
        const cur = (p * steps + t) * inner;
        if (s === 0) {
          if (h0) for (let q = 0; q < inner; q++) o[cur + q] = ad[cur + q]! * h0.data[p * inner + q]! + bd[cur + q]!;
          else for (let q = 0; q < inner; q++) o[cur + q] = bd[cur + q]!;
        } else {
          const prev = (p * steps + (reverse ? t + 1 : t - 1)) * inner;
          for (let q = 0; q < inner; q++) o[cur + q] = ad[cur + q]! * o[prev + q]! + bd[cur + q]!;
        }
      }
    }
    return new Tensor(o, node.shape, node.dtype);
  };
};

export const randKernel: KernelFactory = (node) => ([seed], alloc) => {
  const s = seed!.data[0]!;
  const o = alloc("float32", node.shape.reduce((n, d) => n * d, 1));
  for (let i = 0; i < o.length; i++) o[i] = hashUniform(s, i);
  return new Tensor(o, node.shape, "float32");
};
