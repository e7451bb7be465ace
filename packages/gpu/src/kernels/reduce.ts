import { numel, stridesOf } from "@densessm/core";
import { defineKernel } from "../lang/kernel.js";
import { elementIndex, groupIndex, guard, maxOf, offsetOf, rowReduce, sumOf } from "../lang/std.js";
import { f32, i32, type Val } from "../lang/values.js";
import { elementGrid, grid, wordType } from "./grid.js";
import type { KernelFactory } from "./types.js";

/** Reductions this long with few outputs get a workgroup each instead of one invocation each. */
const LONG_REDUCTION = 256;
const GROUP = 64;

type ReduceSpec = {
  readonly op: "sum" | "max";
  readonly t: "f32" | "i32";
  readonly keptShape: readonly number[];
  readonly keptStrides: readonly number[];
  readonly redShape: readonly number[];
  readonly redStrides: readonly number[];
};

const init = (spec: ReduceSpec): Val<"f32"> => (spec.op === "max" ? (spec.t === "i32" ? i32(-(2 ** 31)) : f32(-Infinity)) : spec.t === "i32" ? i32(0) : f32(0)) as Val<"f32">;
const combineOf = (spec: ReduceSpec) => (spec.op === "max" ? maxOf<"f32"> : sumOf<"f32">);

/** One invocation per output walks the reduced coordinates in row-major order (the CPU's order). */
const perOutput = defineKernel("reduce", (k, spec: ReduceSpec) => {
  const x = k.input("x", spec.t);
  const y = k.output("y", spec.t);
  const i = elementIndex(k);
  guard(k, i, numel(spec.keptShape));
  const base = offsetOf(k, "base", i, spec.keptShape, spec.keptStrides);
  const acc = k.var("acc", init(spec));
  const combine = combineOf(spec);
  k.range("r", 0, numel(spec.redShape), (r) => acc.set(combine(acc, x.at(base.add(offsetOf(k, "red", r, spec.redShape, spec.redStrides))) as Val<"f32">)));
  y.set(i, acc as Val<"f32">);
});

/** One workgroup per output for long reductions with few outputs. */
const perGroup = defineKernel("reduce.workgroup", (k, spec: ReduceSpec) => {
  k.workgroupSize(GROUP);
  const x = k.input("x", spec.t);
  const y = k.output("y", spec.t);
  const part = k.shared("part", spec.t, GROUP);
  const item = groupIndex(k);
  guard(k, item, numel(spec.keptShape));
  const base = offsetOf(k, "base", item, spec.keptShape, spec.keptStrides);
  const total = rowReduce(k, "total", {
    length: numel(spec.redShape),
    value: (j) => x.at(base.add(offsetOf(k, "red", j, spec.redShape, spec.redStrides))) as Val<"f32">,
    init: init(spec),
    combine: combineOf(spec),
    part: part as never,
  });
  k.if(k.localIndex.eq(0), () => y.set(item, total as Val<"f32">));
});

/** sum and max over any set of axes. */
export const reduceNode: KernelFactory = (node, [x]) => {
  const axes = node.attrs.axes as readonly number[];
  const shape = x!.shape;
  const strides = stridesOf(shape);
  const kept = shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const spec: ReduceSpec = {
    op: node.op as "sum" | "max",
    t: wordType(node.dtype),
    keptShape: kept.map((i) => shape[i]!),
    keptStrides: kept.map((i) => strides[i]!),
    redShape: axes.map((i) => shape[i]!),
    redStrides: axes.map((i) => strides[i]!),
  };
  const outputs = numel(spec.keptShape);
  if (numel(spec.redShape) >= LONG_REDUCTION && outputs <= 16384) return { dispatches: [{ program: perGroup.specialize(spec), groups: grid(outputs), inputs: [0] }] };
  return { dispatches: [{ program: perOutput.specialize(spec), groups: elementGrid(outputs), inputs: [0] }] };
};
