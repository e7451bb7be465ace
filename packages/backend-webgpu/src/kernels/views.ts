import { numel, stridesOf, type Node } from "@densessm/core";
import type { DispatchSpec, KernelFactory, KernelPlan } from "./types.js";
import { single } from "./types.js";
import { aroundAxis, bindings, broadcastStrides, elementGrid, elementwiseMain, offsetFn, scalarLit, u32Lit, wgslType } from "./wgsl.js";

/** Permute, slice and expand are all one kernel: a gather through a strided offset map. */
function stridedCopy(node: Node, strides: readonly number[], base: number): KernelPlan {
  const n = numel(node.shape);
  const t = wgslType(node.dtype);
  const code = `${bindings([{ name: "x", type: t }], { name: "y", type: t })}
${offsetFn("src", node.shape, strides, base)}
${elementwiseMain(n, "  y[i] = x[src(i)];")}`;
  return single(code, elementGrid(n), 1);
}

export const permuteKernel: KernelFactory = (node, [x]) => {
  const strides = stridesOf(x!.shape);
  return stridedCopy(node, (node.attrs.perm as readonly number[]).map((p) => strides[p]!), 0);
};

export const sliceKernel: KernelFactory = (node, [x]) => {
  const strides = stridesOf(x!.shape);
  const starts = node.attrs.starts as readonly number[];
  return stridedCopy(node, strides, starts.reduce((acc, s, i) => acc + s * strides[i]!, 0));
};

export const expandKernel: KernelFactory = (node, [x]) => stridedCopy(node, broadcastStrides(x!.shape, node.shape), 0);

/** One dispatch per input, each copying its [outer, width] block into its column range. */
export const concatKernel: KernelFactory = (node, inputs) => {
  const axis = node.attrs.axis as number;
  const [outer, total, inner] = aroundAxis(node.shape, axis);
  const t = wgslType(node.dtype);
  const dispatches: DispatchSpec[] = [];
  let offset = 0;
  inputs.forEach((x, k) => {
    const width = x.shape[axis]! * inner;
    const n = outer * width;
    if (n > 0) {
      const body = `  let p = i / ${u32Lit(width)};
  let r = i % ${u32Lit(width)};
  y[p * ${u32Lit(total * inner)} + ${u32Lit(offset * inner)} + r] = x[i];`;
      const code = `${bindings([{ name: "x", type: t }], { name: "y", type: t })}\n${elementwiseMain(n, body)}`;
      dispatches.push({ code, groups: elementGrid(n), inputs: [k] });
    }
    offset += x.shape[axis]!;
  });
  return { dispatches };
};

/** Every output element either reads its source element or takes the pad value. */
export const padKernel: KernelFactory = (node, [x]) => {
  const pads = node.attrs.pads as readonly number[];
  const value = node.attrs.value as number;
  const n = numel(node.shape);
  const t = wgslType(node.dtype);
  const inStrides = stridesOf(x!.shape);
  const lines = ["  var r = i;", "  var o = 0u;", "  var inside = true;"];
  for (let d = node.shape.length - 1; d >= 0; d--) {
    const before = pads[2 * d]!;
    lines.push(
      `  { let c = i32(r % ${u32Lit(node.shape[d]!)}) - ${before}i;`,
      `    if (c < 0i || c >= ${x!.shape[d]!}i) { inside = false; } else { o += u32(c) * ${u32Lit(inStrides[d]!)}; }`,
      `    r = r / ${u32Lit(node.shape[d]!)}; }`,
    );
  }
  lines.push(`  if (inside) { y[i] = x[o]; } else { y[i] = ${scalarLit(value, node.dtype)}; }`);
  const code = `${bindings([{ name: "x", type: t }], { name: "y", type: t })}\n${elementwiseMain(n, lines.join("\n"))}`;
  return single(code, elementGrid(n), 1);
};
