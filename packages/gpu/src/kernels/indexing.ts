import { numel } from "@densessm/core";
import { defineKernel } from "../lang/kernel.js";
import { elementIndex, guard } from "../lang/std.js";
import { f32, i32, type Val } from "../lang/values.js";
import { aroundAxis, elementGrid, wordType } from "./grid.js";
import { single, type KernelFactory } from "./types.js";

// Indices are validated before the dispatch (the executor checks host-known index tensors and
// constants and raises a BackendError naming the node); in the kernel they are clamped so a
// computed index can never read outside its buffer.

/** take(x, idx, axis): out[p, j, q] = x[p, idx[j], q]. */
const gatherKernel = defineKernel("gather", (k, spec: { t: "f32" | "i32"; n: number; size: number; inner: number; count: number }) => {
  const x = k.input("x", spec.t);
  const idx = k.input("idx", "i32");
  const y = k.output("y", spec.t);
  const i = elementIndex(k);
  guard(k, i, spec.n);
  const q = k.let("q", i.rem(spec.inner));
  const j = k.let("j", i.div(spec.inner).rem(spec.count));
  const p = k.let("p", i.div(spec.inner * spec.count));
  const v = k.let("v", idx.at(j).clamp(0, Math.max(spec.size - 1, 0)).u32());
  y.set(i, x.at(p.mul(spec.size).add(v).mul(spec.inner).add(q)) as Val<"f32">);
});

export const gatherNode: KernelFactory = (node, [x, idx]) => {
  const [, size, inner] = aroundAxis(x!.shape, node.attrs.axis as number);
  const n = numel(node.shape);
  return single(gatherKernel.specialize({ t: wordType(node.dtype), n, size, inner, count: numel(idx!.shape) }), elementGrid(n), 2);
};

/**
 * The adjoint of gather. Each output element sums, in index order, every source slice whose index
 * names its row: no atomics, so the result is deterministic (and equals the CPU's order).
 */
const scatterAddKernel = defineKernel("scatterAdd", (k, spec: { t: "f32" | "i32"; n: number; size: number; inner: number; count: number }) => {
  const src = k.input("src", spec.t);
  const idx = k.input("idx", "i32");
  const y = k.output("y", spec.t);
  const i = elementIndex(k);
  guard(k, i, spec.n);
  const q = k.let("q", i.rem(spec.inner));
  const row = k.let("row", i.div(spec.inner).rem(spec.size).i32());
  const p = k.let("p", i.div(spec.inner * spec.size));
  const acc = k.var("acc", (spec.t === "i32" ? i32(0) : f32(0)) as Val<"f32">);
  k.range("j", 0, spec.count, (j) => k.if(idx.at(j).eq(row), () => acc.set(acc.add(src.at(p.mul(spec.count).add(j).mul(spec.inner).add(q)) as Val<"f32">))));
  y.set(i, acc);
});

export const scatterAddNode: KernelFactory = (node, [, idx]) => {
  const size = node.attrs.size as number;
  const [, , inner] = aroundAxis(node.shape, node.attrs.axis as number);
  const n = numel(node.shape);
  return single(scatterAddKernel.specialize({ t: wordType(node.dtype), n, size, inner, count: numel(idx!.shape) }), elementGrid(n), 2);
};
