import { numel, stridesOf, type Node } from "@densessm/core";
import { defineKernel } from "../lang/kernel.js";
import { broadcastStrides, elementIndex, guard, offsetOf } from "../lang/std.js";
import { f32, i32, type Val } from "../lang/values.js";
import { aroundAxis, elementGrid, wordType } from "./grid.js";
import { single, type Dispatch, type KernelFactory, type KernelPlan } from "./types.js";

/** Permute, slice and expand are all one kernel: a gather through a strided offset map. */
const stridedCopy = defineKernel("strided", (k, spec: { t: "f32" | "i32"; shape: readonly number[]; strides: readonly number[]; base: number }) => {
  const x = k.input("x", spec.t);
  const y = k.output("y", spec.t);
  const i = elementIndex(k);
  guard(k, i, numel(spec.shape));
  y.set(i, x.at(offsetOf(k, "src", i, spec.shape, spec.strides, spec.base)) as Val<"f32">);
});

function strided(node: Node, strides: readonly number[], base: number): KernelPlan {
  return single(stridedCopy.specialize({ t: wordType(node.dtype), shape: node.shape, strides, base }), elementGrid(numel(node.shape)), 1);
}

export const permuteNode: KernelFactory = (node, [x]) => {
  const strides = stridesOf(x!.shape);
  return strided(node, (node.attrs.perm as readonly number[]).map((p) => strides[p]!), 0);
};

export const sliceNode: KernelFactory = (node, [x]) => {
  const strides = stridesOf(x!.shape);
  const starts = node.attrs.starts as readonly number[];
  return strided(node, strides, starts.reduce((acc, s, i) => acc + s * strides[i]!, 0));
};

export const expandNode: KernelFactory = (node, [x]) => strided(node, broadcastStrides(x!.shape, node.shape), 0);

/** Copies an [outer, width] block into columns [offset, offset + width) of rows `total` wide. */
const concatPart = defineKernel("concat", (k, spec: { t: "f32" | "i32"; n: number; width: number; total: number; offset: number }) => {
  const x = k.input("x", spec.t);
  const y = k.output("y", spec.t);
  const i = elementIndex(k);
  guard(k, i, spec.n);
  const p = k.let("p", i.div(spec.width));
  const r = k.let("r", i.rem(spec.width));
  y.set(p.mul(spec.total).add(spec.offset).add(r), x.at(i) as Val<"f32">);
});

/** One dispatch per input, each copying its block into its column range. */
export const concatNode: KernelFactory = (node, inputs) => {
  const axis = node.attrs.axis as number;
  const [outer, total, inner] = aroundAxis(node.shape, axis);
  const dispatches: Dispatch[] = [];
  let offset = 0;
  inputs.forEach((x, j) => {
    const width = x.shape[axis]! * inner;
    const n = outer * width;
    if (n > 0) dispatches.push({ program: concatPart.specialize({ t: wordType(node.dtype), n, width, total: total * inner, offset: offset * inner }), groups: elementGrid(n), inputs: [j] });
    offset += x.shape[axis]!;
  });
  return { dispatches };
};

/** Every output element either reads its source element or takes the pad value. */
const padKernel = defineKernel("pad", (k, spec: { t: "f32" | "i32"; shape: readonly number[]; inShape: readonly number[]; before: readonly number[]; value: number }) => {
  const x = k.input("x", spec.t);
  const y = k.output("y", spec.t);
  const i = elementIndex(k);
  guard(k, i, numel(spec.shape));
  const inStrides = stridesOf(spec.inShape);
  const r = k.var("r", i);
  const o = k.var("o", "u32", 0);
  const inside = k.var("inside", "bool", true);
  for (let d = spec.shape.length - 1; d >= 0; d--) {
    const c = k.let("c", r.rem(spec.shape[d]!).i32().sub(spec.before[d]!));
    k.if(c.lt(0).or(c.ge(spec.inShape[d]!)), () => inside.set(false), () => o.set(o.add(c.u32().mul(inStrides[d]!))));
    r.set(r.div(spec.shape[d]!));
  }
  const pad = (spec.t === "i32" ? i32(spec.value | 0) : f32(spec.value)) as Val<"f32">;
  k.if(inside, () => y.set(i, x.at(o) as Val<"f32">), () => y.set(i, pad));
});

export const padNode: KernelFactory = (node, [x]) => {
  const pads = node.attrs.pads as readonly number[];
  const spec = { t: wordType(node.dtype), shape: node.shape, inShape: x!.shape, before: node.shape.map((_, d) => pads[2 * d]!), value: node.attrs.value as number };
  return single(padKernel.specialize(spec), elementGrid(numel(node.shape)), 1);
};
