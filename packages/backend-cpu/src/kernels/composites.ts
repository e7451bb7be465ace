import { Tensor } from "@densessm/core";
import { expSimd } from "./exp-simd.js";
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

// The pointwise composites below cost one exp per element: each writes its exponents into
// `exponents(n)`, exponentiates them in place with `exponentiate` (four at a time with WebAssembly
// SIMD, within 2 ulps of Math.exp: exp-simd.ts) and combines. Each writes its own loops, so every
// loop stays monomorphic.

/** Room for n exponents: the SIMD kernels' memory, or a fresh array where there is no SIMD. */
function exponents(n: number): Float32Array {
  const simd = expSimd();
  return simd ? simd.floats(Math.ceil(n / 4) * 4) : new Float32Array(n);
}

/** e[i] = e^e[i] for the first n entries of an `exponents(n)` array. */
function exponentiate(e: Float32Array, n: number): void {
  const simd = expSimd();
  if (simd) simd.exp(0, Math.ceil(n / 4));
  else for (let i = 0; i < n; i++) e[i] = Math.exp(e[i]!);
}

export const sigmoidKernel = pointwise((x, o) => {
  const e = exponents(x.length);
  for (let i = 0; i < x.length; i++) e[i] = -x[i]!;
  exponentiate(e, x.length);
  for (let i = 0; i < x.length; i++) o[i] = 1 / (1 + e[i]!);
});

export const siluKernel = pointwise((x, o) => {
  const e = exponents(x.length);
  for (let i = 0; i < x.length; i++) e[i] = -x[i]!;
  exponentiate(e, x.length);
  for (let i = 0; i < x.length; i++) o[i] = x[i]! / (1 + e[i]!);
});

/** Stable: max(v, 0) + log(1 + e^−|v|). */
export const softplusKernel = pointwise((x, o) => {
  const e = exponents(x.length);
  for (let i = 0; i < x.length; i++) e[i] = -Math.abs(x[i]!);
  exponentiate(e, x.length);
  for (let i = 0; i < x.length; i++) o[i] = Math.max(x[i]!, 0) + Math.log(1 + e[i]!);
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

/**
 * causalConv1d: y[b, t, c] = bias[c] + Σ_j w[c, j] x[b, t − (K−1) + j, c] in one pass, reading
 * zeros before the start (or, with `history`, x's first K−1 positions). Sums in the
 * decomposition's order with its float32 roundings, so both give the same bits.
 */
export const causalConv1dKernel: KernelFactory = (node, [xNode, wNode]) => {
  const [batch, len, channels] = node.shape as [number, number, number];
  const width = wNode!.shape[1]!;
  const inLen = xNode!.shape[1]!;
  // Input position of output t's first tap: t − (K−1), or t when x begins with the history.
  const shift = node.attrs.history ? 0 : width - 1;
  return ([xIn, wIn, biasIn], alloc) => {
    const x = xIn!.data as Float32Array, w = wIn!.data as Float32Array;
    const bias = biasIn?.data as Float32Array | undefined;
    const o = alloc("float32", batch * len * channels) as Float32Array;
    const fround = Math.fround;
    // Tap by tap over a row of channels: the stores into o round each partial sum to float32.
    for (let b = 0; b < batch; b++) {
      for (let t = 0; t < len; t++) {
        const out = (b * len + t) * channels;
        for (let j = 0; j < width; j++) {
          const src = t - shift + j;
          const row = (b * inLen + src) * channels;
          for (let c = 0; c < channels; c++) {
            const term = fround((src >= 0 ? x[row + c]! : 0) * w[c * width + j]!);
            o[out + c] = j === 0 ? term : o[out + c]! + term;
          }
        }
        if (bias) for (let c = 0; c < channels; c++) o[out + c] = o[out + c]! + bias[c]!;
      }
    }
    return new Tensor(o, node.shape, "float32");
  };
};
