import { numel } from "@densessm/core";
import type { DispatchSpec, KernelFactory } from "./types.js";
import { bindings, elementGrid, elementwiseMain } from "./wgsl.js";

/**
 * Shallow states one dispatch binds: with current, gate and the output that is 7 storage buffers,
 * within WebGPU's guaranteed 8 per shader stage. Deeper dense connections take more dispatches.
 */
const SHALLOW_PER_DISPATCH = 4;

/**
 * @densessm/fusion's fusion.denseFusion, y = current + Σ_i gate ⊙ shallow_i (inputs: current,
 * gate, shallow_1..m, all one shape): one thread per element, adding the gated states in order as
 * the decomposition does. Dispatches after the first continue from y.
 */
export const denseFusionKernel: KernelFactory = (node, inputs) => {
  const n = numel(node.shape);
  const dispatches: DispatchSpec[] = [];
  for (let first = 2; first < inputs.length; first += SHALLOW_PER_DISPATCH) {
    const shallow = Array.from({ length: Math.min(SHALLOW_PER_DISPATCH, inputs.length - first) }, (_, j) => ({ name: `h${j}`, position: first + j }));
    const seeded = first === 2;
    const bound = [...(seeded ? [{ name: "current", position: 0 }] : []), { name: "gate", position: 1 }, ...shallow];
    const body = `  let g = gate[i];
  var acc = ${seeded ? "current[i]" : "y[i]"};
${shallow.map(({ name }) => `  acc += g * ${name}[i];`).join("\n")}
  y[i] = acc;`;
    const code = `${bindings(bound.map(({ name }) => ({ name, type: "f32" as const })), { name: "y", type: "f32" })}\n${elementwiseMain(n, body)}`;
    dispatches.push({ code, groups: elementGrid(n), inputs: bound.map(({ position }) => position) });
  }
  return { dispatches };
};
