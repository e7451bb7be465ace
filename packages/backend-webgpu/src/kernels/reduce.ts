import { numel, stridesOf } from "@densessm/core";
import type { KernelFactory } from "./types.js";
import { single } from "./types.js";
import { NEG_INF, bindings, elementGrid, elementwiseMain, grid, groupMain, maxOf, offsetFn, rowReduce, sumOf, u32Lit, wgslType } from "./wgsl.js";

/** Reductions this long with few outputs get a workgroup each instead of one thread each. */
const LONG_REDUCTION = 256;
const GROUP = 64;

/**
 * sum and max over any set of axes. Each output element starts at the offset of its kept
 * coordinates and walks the reduced coordinates in row-major order, the CPU's summation order.
 */
export const reduceKernel: KernelFactory = (node, [x]) => {
  const axes = node.attrs.axes as readonly number[];
  const shape = x!.shape;
  const strides = stridesOf(shape);
  const kept = shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const keptShape = kept.map((i) => shape[i]!);
  const redShape = axes.map((i) => shape[i]!);
  const outputs = numel(keptShape);
  const length = numel(redShape);
  const t = wgslType(node.dtype);
  const isMax = node.op === "max";
  const init = isMax ? (t === "i32" ? "-2147483647i - 1i" : NEG_INF) : t === "i32" ? "0i" : "0.0";
  const combine = isMax ? maxOf : sumOf;
  const fns = `${offsetFn("keptOff", keptShape, kept.map((i) => strides[i]!))}
${offsetFn("redOff", redShape, axes.map((i) => strides[i]!))}`;
  const head = bindings([{ name: "x", type: t }], { name: "y", type: t });

  if (length >= LONG_REDUCTION && outputs <= 16384) {
    const body = `  if (item >= ${u32Lit(outputs)}) { return; }
  let base = keptOff(item);
${rowReduce("total", { length, value: "x[base + redOff(j)]", init, combine, size: GROUP })}
  if (tid == 0u) { y[item] = total; }`;
    const code = `${head}\n${fns}\nvar<workgroup> part: array<${t}, ${GROUP}>;\n${groupMain(GROUP, body)}`;
    return single(code, grid(outputs), 1);
  }
  const body = `  let base = keptOff(i);
  var acc: ${t} = ${init};
  for (var r = 0u; r < ${u32Lit(length)}; r++) { acc = ${combine("acc", "x[base + redOff(r)]")}; }
  y[i] = acc;`;
  return single(`${head}\n${fns}\n${elementwiseMain(outputs, body)}`, elementGrid(outputs), 1);
};
