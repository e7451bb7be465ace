import { causalConv1dKernel, logSoftmaxKernel, rmsnormKernel, softmaxKernel } from "./composites.js";
import { denseFusionKernel } from "./dense-fusion.js";
import { binaryKernel, unaryKernel, whereKernel } from "./elementwise.js";
import { gatherKernel, scatterAddKernel } from "./indexing.js";
import { matmulKernel } from "./matmul.js";
import { castKernel, randKernel, scanKernel } from "./misc.js";
import { reduceKernel } from "./reduce.js";
import { chunkwiseRetentionKernel, parallelRetentionKernel } from "./retention.js";
import { sampleKernel } from "./sample.js";
import type { KernelFactory } from "./types.js";
import { concatKernel, expandKernel, padKernel, permuteKernel, sliceKernel } from "./views.js";

/**
 * Every primitive except reshape (a free view: the executable aliases its input's buffer), plus
 * the composites this backend runs fused.
 */
export const KERNELS: Readonly<Record<string, KernelFactory>> = {
  neg: unaryKernel, exp: unaryKernel, log: unaryKernel, sin: unaryKernel, cos: unaryKernel, sqrt: unaryKernel, recip: unaryKernel,
  add: binaryKernel, sub: binaryKernel, mul: binaryKernel, div: binaryKernel, maximum: binaryKernel, less: binaryKernel, equal: binaryKernel,
  where: whereKernel,
  sum: reduceKernel, max: reduceKernel,
  matmul: matmulKernel,
  permute: permuteKernel, slice: sliceKernel, expand: expandKernel, concat: concatKernel, pad: padKernel,
  gather: gatherKernel, scatterAdd: scatterAddKernel,
  cast: castKernel,
  scan: scanKernel,
  rand: randKernel,
  // fused composites
  sigmoid: unaryKernel, silu: unaryKernel, softplus: unaryKernel,
  softmax: softmaxKernel, logSoftmax: logSoftmaxKernel, rmsnorm: rmsnormKernel, causalConv1d: causalConv1dKernel,
  sample: sampleKernel,
  // composites of the model packages, by op name (the backend does not import them)
  "retnet.parallelRetention": parallelRetentionKernel, "retnet.chunkwiseRetention": chunkwiseRetentionKernel, "fusion.denseFusion": denseFusionKernel,
};

/** Ops the backend runs: the kernels above and reshape. */
export const SUPPORTED_OPS: ReadonlySet<string> = new Set([...Object.keys(KERNELS), "reshape"]);

export type { DispatchSpec, KernelContext, KernelFactory, KernelPlan } from "./types.js";
