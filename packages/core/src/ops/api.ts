// The functional op API that model code (and SymTensor's methods) call. Every function appends a
// node to the graph being traced; none computes anything by itself.
export { add, cos, div, equal, exp, less, log, maximum, mul, neg, recip, rsqrt, sin, sqrt, sub, where } from "./elementwise.js";
export { max, sum } from "./reduce.js";
export { matmul } from "./matmul.js";
export { concat, expand, pad, padAxis, permute, reshape, sliceAxis, squeeze, transpose, unsqueeze } from "./views.js";
export { gather, scatterAdd } from "./indexing.js";
export { cast } from "./cast.js";
export { scan } from "./scan.js";
export { rand } from "./random.js";
export { sample } from "./sample.js";
export {
  arange,
  causalConv1d,
  crossEntropy,
  gelu,
  layerNorm,
  linear,
  logSoftmax,
  mean,
  relu,
  rmsnorm,
  sigmoid,
  silu,
  softmax,
  softplus,
  stopGradient,
  tanh,
} from "./composites.js";
export { dequantize, quantizedMatmul } from "../quant/ops.js";
