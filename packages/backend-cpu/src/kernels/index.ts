import { binaryKernel, unaryKernel, whereKernel } from "./elementwise.js";
import { gatherKernel, scatterAddKernel } from "./indexing.js";
import { matmulKernel } from "./matmul.js";
import { castKernel, randKernel, scanKernel } from "./misc.js";
import { reduceKernel } from "./reduce.js";
import { concatKernel, expandKernel, padKernel, permuteKernel, reshapeKernel, sliceKernel } from "./views.js";
import { causalConv1dKernel, logSoftmaxKernel, rmsnormKernel, sigmoidKernel, siluKernel, softmaxKernel, softplusKernel } from "./composites.js";
import { sampleKernel } from "./sample.js";
import { dequantizeKernel, quantizedMatmulKernel } from "./quant.js";
import { retentionStepKernel } from "./retention.js";
import { selectiveScanKernel } from "./selective-scan.js";
import type { KernelFactory } from "./types.js";

/** Every primitive, plus the composites this backend runs fused. */
export const KERNELS: Readonly<Record<string, KernelFactory>> = {
  neg: unaryKernel, exp: unaryKernel, log: unaryKernel, sin: unaryKernel, cos: unaryKernel, sqrt: unaryKernel, recip: unaryKernel,
  add: binaryKernel, sub: binaryKernel, mul: binaryKernel, div: binaryKernel, maximum: binaryKernel, less: binaryKernel, equal: binaryKernel,
  where: whereKernel,
  sum: reduceKernel, max: reduceKernel,
  matmul: matmulKernel,
  reshape: reshapeKernel, permute: permuteKernel, slice: sliceKernel, expand: expandKernel, concat: concatKernel, pad: padKernel,
  gather: gatherKernel, scatterAdd: scatterAddKernel,
  cast: castKernel,
  scan: scanKernel,
  rand: randKernel,
  // fused composites
  sigmoid: sigmoidKernel, silu: siluKernel, softplus: softplusKernel,
  softmax: softmaxKernel, logSoftmax: logSoftmaxKernel, rmsnorm: rmsnormKernel, causalConv1d: causalConv1dKernel,
  sample: sampleKernel,
  quantizedMatmul: quantizedMatmulKernel, dequantize: dequantizeKernel,
  // composites of the model packages, by op name
  "retnet.retentionStep": retentionStepKernel,
  "mamba.selectiveScan": selectiveScanKernel,
};

export type { Allocator, CompiledKernel, KernelFactory } from "./types.js";
export { gemm, gemmTransB, naiveGemm } from "./matmul.js";
