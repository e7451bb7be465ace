import { numel } from "@densessm/core";
import { defineKernel } from "../lang/kernel.js";
import { elementIndex, groupIndex, guard, maxOf, rowReduce, sumOf } from "../lang/std.js";
import { exp, f32, i32, log, sqrt } from "../lang/values.js";
import { aroundAxis, elementGrid, grid } from "./grid.js";
import { single, type KernelFactory } from "./types.js";

// Fused kernels for the composites that dominate inference. Each computes what the op's reference
// decomposition in core computes; the conformance suite checks both against the same reference.

const GROUP = 64;

/**
 * softmax / logSoftmax along any axis: one workgroup per row (an (outer, inner) pair), reading the
 * row with stride `inner`: a max pass, a sum-of-exponentials pass, then the write.
 */
const softmaxKernel = defineKernel("softmax", (k, spec: { rows: number; size: number; inner: number; log: boolean }) => {
  k.workgroupSize(GROUP);
  const x = k.input("x", "f32");
  const y = k.output("y", "f32");
  const part = k.shared("part", "f32", GROUP);
  const item = groupIndex(k);
  guard(k, item, spec.rows);
  const base = k.let("base", item.div(spec.inner).mul(spec.size * spec.inner).add(item.rem(spec.inner)));
  const at = (j: typeof item) => base.add(j.mul(spec.inner));
  const mx = rowReduce(k, "mx", { length: spec.size, value: (j) => x.at(at(j)), init: f32(-Infinity), combine: maxOf, part });
  const total = rowReduce(k, "total", { length: spec.size, value: (j) => exp(x.at(at(j)).sub(mx)), init: f32(0), combine: sumOf, part });
  k.range("j", k.localIndex, spec.size, (j) => y.set(at(j), spec.log ? x.at(at(j)).sub(mx).sub(log(total)) : exp(x.at(at(j)).sub(mx)).div(total)), GROUP);
});

const softmaxFamily =
  (isLog: boolean): KernelFactory =>
  (node) => {
    const [outer, size, inner] = aroundAxis(node.shape, node.attrs.axis as number);
    const rows = outer * inner;
    return single(softmaxKernel.specialize({ rows, size, inner, log: isLog }), grid(rows), 1);
  };

export const softmaxNode = softmaxFamily(false);
export const logSoftmaxNode = softmaxFamily(true);

/** rmsnorm over the last axis: one workgroup per row reduces the sum of squares, then scales. */
const rmsnormKernel = defineKernel("rmsnorm", (k, spec: { rows: number; dim: number; eps: number; weighted: boolean }) => {
  k.workgroupSize(GROUP);
  const x = k.input("x", "f32");
  const w = spec.weighted ? k.input("w", "f32") : undefined;
  const y = k.output("y", "f32");
  const part = k.shared("part", "f32", GROUP);
  const item = groupIndex(k);
  guard(k, item, spec.rows);
  const base = k.let("base", item.mul(spec.dim));
  const squares = rowReduce(k, "squares", { length: spec.dim, value: (j) => x.at(base.add(j)).mul(x.at(base.add(j))), init: f32(0), combine: sumOf, part });
  const scale = k.let("scale", f32(1).div(sqrt(squares.div(spec.dim).add(spec.eps))));
  k.range("j", k.localIndex, spec.dim, (j) => y.set(base.add(j), w ? x.at(base.add(j)).mul(scale).mul(w.at(j)) : x.at(base.add(j)).mul(scale)), GROUP);
});

export const rmsnormNode: KernelFactory = (node, inputs) => {
  const dim = node.shape[node.shape.length - 1]!;
  const rows = numel(node.shape) / Math.max(dim, 1);
  return single(rmsnormKernel.specialize({ rows, dim, eps: node.attrs.eps as number, weighted: inputs.length > 1 }), grid(rows), inputs.length);
};

/**
 * Depthwise causal conv: y[b, t, c] = bias[c] + Σ_j w[c, j] x[b, t + j − shift, c], one invocation
 * per output; shift is K−1 (zeros before the start), or 0 when x begins with the K−1 inputs that
 * precede the outputs (history). x has inLen positions, y has len.
 */
const causalConv1dKernel = defineKernel("causalConv1d", (k, spec: { n: number; len: number; inLen: number; channels: number; width: number; shift: number; bias: boolean }) => {
  const x = k.input("x", "f32");
  const w = k.input("w", "f32");
  const bias = spec.bias ? k.input("bias", "f32") : undefined;
  const y = k.output("y", "f32");
  const i = elementIndex(k);
  guard(k, i, spec.n);
  const c = k.let("c", i.rem(spec.channels));
  const row = k.let("row", i.div(spec.channels));
  const t = k.let("t", row.rem(spec.len).i32());
  const row0 = k.let("row0", row.div(spec.len).mul(spec.inLen * spec.channels).add(c));
  const acc = k.var("acc", "f32", 0);
  k.range("j", i32(0), spec.width, (j) => {
    const src = k.let("src", t.sub(spec.shift).add(j));
    k.if(src.ge(0), () => acc.set(acc.add(x.at(row0.add(src.u32().mul(spec.channels))).mul(w.at(c.mul(spec.width).add(j.u32()))))));
  });
  y.set(i, bias ? acc.add(bias.at(c)) : acc);
});

export const causalConv1dNode: KernelFactory = (node, inputs) => {
  const [, len, channels] = node.shape as [number, number, number];
  const n = numel(node.shape);
  const width = inputs[1]!.shape[1]!;
  const spec = { n, len, inLen: inputs[0]!.shape[1]!, channels, width, shift: node.attrs.history ? 0 : width - 1, bias: inputs.length > 2 };
  return single(causalConv1dKernel.specialize(spec), elementGrid(n), inputs.length);
};
