import { numel, stridesOf, Tensor } from "@densessm/core";
import { stridedIndex } from "./indexing-maps.js";
import type { KernelFactory } from "./types.js";

/**
 * sum / max over any set of axes. At compile time the input's elements are split into "kept"
 * offsets (one per output element) and "reduced" offsets (one per reduced element), so the run is
 * out[m] = reduce_r x[kept[m] + reduced[r]]; reducing trailing axes takes a contiguous fast path.
 */
export const reduceKernel: KernelFactory = (node, [x]) => {
  const shape = x!.shape;
  const axes = node.attrs.axes as readonly number[];
  const strides = stridesOf(shape);
  const keptAxes = shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const kept = stridedIndex(keptAxes.map((i) => shape[i]!), keptAxes.map((i) => strides[i]!));
  const reduced = stridedIndex(axes.map((i) => shape[i]!), axes.map((i) => strides[i]!));
  const r = reduced.length;
  const trailing = axes.every((a, i) => a === shape.length - axes.length + i);
  const isMax = node.op === "max";
  const m = numel(node.shape);

  return ([input], alloc) => {
    const xd = input!.data;
    const o = alloc(node.dtype, m);
    for (let j = 0; j < m; j++) {
      const base = trailing ? j * r : kept[j]!;
      let acc = isMax ? -Infinity : 0;
      if (trailing) {
        if (isMax) for (let k = 0; k < r; k++) { const v = xd[base + k]!; if (v > acc || Number.isNaN(v)) acc = v; }
        else for (let k = 0; k < r; k++) acc += xd[base + k]!;
      } else if (isMax) {
        for (let k = 0; k < r; k++) { const v = xd[base + reduced[k]!]!; if (v > acc || Number.isNaN(v)) acc = v; }
      } else {
        for (let k = 0; k < r; k++) acc += xd[base + reduced[k]!]!;
      }
      o[j] = acc;
    }
    return new Tensor(o, node.shape, node.dtype);
  };
};
