import { numel } from "@densessm/core";
import type { KernelFactory } from "./types.js";
import { single } from "./types.js";
import { aroundAxis, bindings, elementGrid, elementwiseMain, u32Lit, wgslType } from "./wgsl.js";

// Indices are validated before the dispatch (the executable checks host-known index tensors and
// constants and raises a BackendError naming the node); in-shader they are clamped so a computed
// index can never read outside its buffer.

/** take(x, idx, axis): out[p, j, q] = x[p, idx[j], q]. */
export const gatherKernel: KernelFactory = (node, [x, idx]) => {
  const axis = node.attrs.axis as number;
  const [, size, inner] = aroundAxis(x!.shape, axis);
  const count = numel(idx!.shape);
  const n = numel(node.shape);
  const t = wgslType(node.dtype);
  const body = `  let q = i % ${u32Lit(inner)};
  let j = (i / ${u32Lit(inner)}) % ${u32Lit(count)};
  let p = i / ${u32Lit(inner * count)};
  let v = u32(clamp(idx[j], 0i, ${Math.max(size - 1, 0)}i));
  y[i] = x[(p * ${u32Lit(size)} + v) * ${u32Lit(inner)} + q];`;
  const code = `${bindings([{ name: "x", type: t }, { name: "idx", type: "i32" }], { name: "y", type: t })}\n${elementwiseMain(n, body)}`;
  return single(code, elementGrid(n), 2);
};

/**
 * The adjoint of gather. Each output element sums, in index order, every source slice whose index
 * names its row: no atomics, so the result is deterministic (and equals the CPU's order).
 */
export const scatterAddKernel: KernelFactory = (node, [, idx]) => {
  const axis = node.attrs.axis as number;
  const size = node.attrs.size as number;
  const count = numel(idx!.shape);
  const [, , inner] = aroundAxis(node.shape, axis);
  const n = numel(node.shape);
  const t = wgslType(node.dtype);
  const body = `  let q = i % ${u32Lit(inner)};
  let row = i32((i / ${u32Lit(inner)}) % ${u32Lit(size)});
  let p = i / ${u32Lit(inner * size)};
  var acc: ${t} = ${t}(0);
  for (var j = 0u; j < ${u32Lit(count)}; j++) {
    if (idx[j] == row) { acc += src[(p * ${u32Lit(count)} + j) * ${u32Lit(inner)} + q]; }
  }
  y[i] = acc;`;
  const code = `${bindings([{ name: "src", type: t }, { name: "idx", type: "i32" }], { name: "y", type: t })}\n${elementwiseMain(n, body)}`;
  return single(code, elementGrid(n), 2);
};
