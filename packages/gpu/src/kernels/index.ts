import { causalConv1dNode, logSoftmaxNode, rmsnormNode, softmaxNode } from "./composites.js";
import { denseFusionNode } from "./dense-fusion.js";
import { ELEMENTWISE_OPS, elementwiseNode } from "./elementwise.js";
import { FUSED_ELEMENTWISE, fusedElementwiseNode } from "./fused.js";
import { gatherNode, scatterAddNode } from "./indexing.js";
import { matmulNode } from "./matmul.js";
import { dequantizeNode, gatherBytesNode, PACK_BYTES, packBytesNode, quantizedMatmulNode, WIDEN_BYTES, widenBytesNode } from "./quant.js";
import { reduceNode } from "./reduce.js";
import { chunkwiseRetentionNode, parallelRetentionNode } from "./retention.js";
import { sampleNode } from "./sample.js";
import { selectiveScanNode } from "./selective-scan.js";
import { randNode, scanNode } from "./scan.js";
import { isBytes } from "./grid.js";
import type { KernelFactory } from "./types.js";
import { concatNode, expandNode, padNode, permuteNode, sliceNode } from "./views.js";

/**
 * Kernel choice per op: every primitive except reshape (a free view: the executor aliases its
 * input's buffer), the composites run as fused kernels, and the executor's own fused elementwise
 * chains. Model packages' composites are keyed by op name; this package does not import them.
 */
export const KERNELS: Readonly<Record<string, KernelFactory>> = {
  ...Object.fromEntries([...ELEMENTWISE_OPS].map((op) => [op, elementwiseNode])),
  sum: reduceNode,
  max: reduceNode,
  matmul: matmulNode,
  permute: permuteNode,
  slice: sliceNode,
  expand: expandNode,
  concat: concatNode,
  pad: padNode,
  // int8/uint8 tensors are raw bytes (quant.ts): their gather (an Embedding's rows of codes) moves bytes
  gather: (node, inputs, ctx) => (isBytes(inputs[0]!.dtype) ? gatherBytesNode : gatherNode)(node, inputs, ctx),
  scatterAdd: scatterAddNode,
  scan: scanNode,
  rand: randNode,
  // fused composites
  softmax: softmaxNode,
  logSoftmax: logSoftmaxNode,
  rmsnorm: rmsnormNode,
  causalConv1d: causalConv1dNode,
  sample: sampleNode,
  quantizedMatmul: quantizedMatmulNode,
  dequantize: dequantizeNode,
  // composites of the model packages, by op name
  "retnet.parallelRetention": parallelRetentionNode,
  "retnet.chunkwiseRetention": chunkwiseRetentionNode,
  "fusion.denseFusion": denseFusionNode,
  "mamba.selectiveScan": selectiveScanNode,
  // the executor's own ops (never in a traced graph): fused elementwise chains, byte conversions
  [FUSED_ELEMENTWISE]: fusedElementwiseNode,
  [WIDEN_BYTES]: widenBytesNode,
  [PACK_BYTES]: packBytesNode,
};

const EXECUTOR_OPS = new Set([FUSED_ELEMENTWISE, WIDEN_BYTES, PACK_BYTES]);

/** Graph ops a GPU backend runs: every kernel above except the executor's own, and reshape. */
export const SUPPORTED_OPS: ReadonlySet<string> = new Set([...Object.keys(KERNELS).filter((op) => !EXECUTOR_OPS.has(op)), "reshape"]);
