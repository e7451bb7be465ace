import { Tensor } from "@densessm/core";
import { aroundAxis } from "./indexing-maps.js";
import type { KernelFactory } from "./types.js";

// Fused kernels for the composite ops that dominate model time. Each computes exactly what the
// op's reference decomposition in core computes (the conformance suite checks they agree).

const pointwise =
  (f: (x: Float32Array, o: Float32Array) => void): KernelFactory =>
  (node) =>
  ([x], alloc) => {
    const o = alloc("float32", x!.size) as Float32Array;
    f(x!.data as Float32Array, o);
    return new Tensor(o, node.shape, "float32");
  };

export const sigmoidKernel = pointwise((x, o) => {
  for (let i = 0; i < x.length; i++) o[i] = 1 / (1 + Math.exp(-x[i]!));
});

export const siluKernel = pointwise((x, o) => {
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    o[i] = v / (1 + Math.exp(-v));
  }
});

export const softplusKernel = pointwise((x, o) => {
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    o[i] = Math.max(v, 0) + Math.log(1 + Math.exp(-Math.abs(v)));
  }
});

/** softmax and logSoftmax along any axis, max-subtracted, in [outer, size, inner] layout. */
const softmaxFamily =
  (log: boolean): KernelFactory =>
  (node) => {
    const [outer, size, inner] = aroundAxis(node.shape, node.attrs.axis as number);
    return ([input], alloc) => {
      const x = input!.data as Float32Array;
      const o = alloc("float32", x.length) as Float32Array;
      for (let p = 0; p < outer; p++)
        for (let q = 0; q < inner; q++) {
          const base = p * size * inner + q;
          let mx = -Infinity;
          for (let j = 0; j < size; j++) mx = Math.max(mx, x[base + j * inner]!);
          let total = 0;
          for (let j = 0; j < size; j++) total += Math.exp(x[base + j * inner]! - mx);
          if (log) {
            const lse = Math.log(total);
            for (let j = 0; j < size; j++) o[base + j * inner] = x[base + j * inner]! - mx - lse;
          } else {
            for (let j = 0; j < size; j++) o[base + j * inner] = Math.exp(x[base + j * inner]! - mx) / total;
          }
        }
      return new Tensor(o, node.shape, "float32");
    };
  };

export const softmaxKernel = softmaxFamily(false);
export const logSoftmaxKernel = softmaxFamily(true);

export const rmsnormKernel: KernelFactory = (node) => {
  const dim = node.shape[node.shape.length - 1]!;
  const eps = node.attrs.eps as number;
  return ([input, weight], alloc) => {
    const x = input!.data as Float32Array;
    const w = weight?.data as Float32Array | undefined;
    const o = alloc("float32", x.length) as Float32Array;
    for (let r = 0; r < x.length; r += dim) {
      let ss = 0;
      for (let j = 0; j < dim; j++) ss += x[r + j]! * x[r + j]!;
      const scale = 1 / Math.sqrt(ss / dim + eps);
      if (w) for (let j = 0; j < dim; j++) o[r + j] = x[r + j]! * scale * w[j]!;
      else for (let j = 0; j < dim; j++) o[r + j] = x[r + j]! * scale;
    }
    return new Tensor(o, node.shape, "float32");
  };
};
