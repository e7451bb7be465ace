import { numel } from "@densessm/core";
import { defineKernel } from "../lang/kernel.js";
import { elementIndex, guard } from "../lang/std.js";
import { elementGrid } from "./grid.js";
import type { Dispatch, KernelFactory } from "./types.js";

/**
 * Buffers one dispatch binds besides the shallow states: current, gate and the output (7 with 4
 * shallow states, within WebGPU's guaranteed 8 per shader stage). Deeper dense connections take
 * more dispatches.
 */
const OTHER_BINDINGS = 3;

/** y = (seeded ? current : y) + Σ_j gate ⊙ shallow_j over one group of shallow states. */
const denseFusionKernel = defineKernel("denseFusion", (k, spec: { n: number; shallow: number; seeded: boolean }) => {
  const current = spec.seeded ? k.input("current", "f32") : undefined;
  const gate = k.input("gate", "f32");
  const hs = Array.from({ length: spec.shallow }, (_, j) => k.input(`h${j}`, "f32"));
  const y = k.output("y", "f32");
  const i = elementIndex(k);
  guard(k, i, spec.n);
  const g = k.let("g", gate.at(i));
  const acc = k.var("acc", current ? current.at(i) : y.at(i));
  for (const h of hs) acc.set(acc.add(g.mul(h.at(i))));
  y.set(i, acc);
});

/**
 * @densessm/fusion's fusion.denseFusion, y = current + Σ_i gate ⊙ shallow_i (inputs: current,
 * gate, shallow_1..m, all one shape): one invocation per element, adding the gated states in order
 * as the decomposition does. Dispatches after the first continue from y.
 */
export const denseFusionNode: KernelFactory = (node, inputs, ctx) => {
  const n = numel(node.shape);
  const perDispatch = Math.max(1, Math.min(4, ctx.maxStorageBuffers - OTHER_BINDINGS));
  const dispatches: Dispatch[] = [];
  for (let first = 2; first < inputs.length; first += perDispatch) {
    const shallow = Math.min(perDispatch, inputs.length - first);
    const seeded = first === 2;
    const positions = [...(seeded ? [0] : []), 1, ...Array.from({ length: shallow }, (_, j) => first + j)];
    dispatches.push({ program: denseFusionKernel.specialize({ n, shallow, seeded }), groups: elementGrid(n), inputs: positions });
  }
  return { dispatches };
};
