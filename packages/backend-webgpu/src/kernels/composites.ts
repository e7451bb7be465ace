import { numel } from "@densessm/core";
import type { KernelFactory } from "./types.js";
import { single } from "./types.js";
import { NEG_INF, aroundAxis, bindings, elementGrid, elementwiseMain, f32Lit, grid, groupMain, maxOf, rowReduce, sumOf, u32Lit } from "./wgsl.js";

// Fused kernels for the composites that dominate inference. Each computes what the op's reference
// decomposition in core computes; the conformance suite checks both against the same reference.

const GROUP = 64;

/**
 * softmax / logSoftmax along any axis: one workgroup per row (an (outer, inner) pair), reading the
 * row with stride `inner`: a max pass, a sum-of-exponentials pass, then the write.
 */
const softmaxFamily =
  (log: boolean): KernelFactory =>
  (node) => {
    const [outer, size, inner] = aroundAxis(node.shape, node.attrs.axis as number);
    const rows = outer * inner;
    const at = (j: string) => `base + ${j} * ${u32Lit(inner)}`;
    const write = log ? `x[${at("j")}] - mx - log(total)` : `exp(x[${at("j")}] - mx) / total`;
    const body = `  if (item >= ${u32Lit(rows)}) { return; }
  let base = (item / ${u32Lit(inner)}) * ${u32Lit(size * inner)} + item % ${u32Lit(inner)};
${rowReduce("mx", { length: size, value: `x[${at("j")}]`, init: NEG_INF, combine: maxOf, size: GROUP })}
${rowReduce("total", { length: size, value: `exp(x[${at("j")}] - mx)`, init: "0.0", combine: sumOf, size: GROUP })}
  for (var j = tid; j < ${u32Lit(size)}; j += ${GROUP}u) { y[${at("j")}] = ${write}; }`;
    const code = `${bindings([{ name: "x", type: "f32" }], { name: "y", type: "f32" })}
var<workgroup> part: array<f32, ${GROUP}>;
${groupMain(GROUP, body)}`;
    return single(code, grid(rows), 1);
  };

export const softmaxKernel = softmaxFamily(false);
export const logSoftmaxKernel = softmaxFamily(true);

/** rmsnorm over the last axis: one workgroup per row reduces the sum of squares, then scales. */
export const rmsnormKernel: KernelFactory = (node, inputs) => {
  const dim = node.shape[node.shape.length - 1]!;
  const rows = numel(node.shape) / Math.max(dim, 1);
  const eps = node.attrs.eps as number;
  const weighted = inputs.length > 1;
  const ins = [{ name: "x", type: "f32" as const }];
  if (weighted) ins.push({ name: "w", type: "f32" });
  const body = `  if (item >= ${u32Lit(rows)}) { return; }
  let base = item * ${u32Lit(dim)};
${rowReduce("squares", { length: dim, value: "x[base + j] * x[base + j]", init: "0.0", combine: sumOf, size: GROUP })}
  let scale = 1.0 / sqrt(squares / ${f32Lit(dim)} + ${f32Lit(eps)});
  for (var j = tid; j < ${u32Lit(dim)}; j += ${GROUP}u) { y[base + j] = x[base + j] * scale${weighted ? " * w[j]" : ""}; }`;
  const code = `${bindings(ins, { name: "y", type: "f32" })}
var<workgroup> part: array<f32, ${GROUP}>;
${groupMain(GROUP, body)}`;
  return single(code, grid(rows), inputs.length);
};

/** Depthwise causal conv: y[b, t, c] = bias[c] + sum_k w[c, k] x[b, t - (K-1) + k, c], one thread per output. */
export const causalConv1dKernel: KernelFactory = (node, inputs) => {
  const [, len, channels] = node.shape as [number, number, number];
  const k = inputs[1]!.shape[1]!;
  const hasBias = inputs.length > 2;
  const n = numel(node.shape);
  const ins = [{ name: "x", type: "f32" as const }, { name: "w", type: "f32" as const }];
  if (hasBias) ins.push({ name: "bias", type: "f32" });
  const body = `  let c = i % ${u32Lit(channels)};
  let t = i32((i / ${u32Lit(channels)}) % ${u32Lit(len)});
  let row0 = i - u32(t) * ${u32Lit(channels)};
  var acc = 0.0;
  for (var j = 0i; j < ${k}i; j++) {
    let src = t - ${k - 1}i + j;
    if (src >= 0i) { acc += x[row0 + u32(src) * ${u32Lit(channels)}] * w[c * ${u32Lit(k)} + u32(j)]; }
  }
  y[i] = acc${hasBias ? " + bias[c]" : ""};`;
  return single(`${bindings(ins, { name: "y", type: "f32" })}\n${elementwiseMain(n, body)}`, elementGrid(n), inputs.length);
};
