import { consumers, prune, type Graph, type Node } from "@densessm/core";
import { ELEMENTWISE_OPS, elementwisePlan, type ElementwiseStep } from "./elementwise.js";
import { wordType } from "./grid.js";
import type { KernelFactory } from "./types.js";

/** The op of a fused elementwise chain in an executor's graph (never in a traced graph). */
export const FUSED_ELEMENTWISE = "gpu.elementwise";

/**
 * Fuses chains of elementwise nodes (silu·mul, add then cast, a residual add's operands, ...)
 * into single nodes that run as one generated kernel: a node joins its consumer's chain when that
 * consumer is its only reader and it is not a graph output, as long as the chain binds at most
 * `maxInputs` buffers. Intermediates then live in registers instead of device buffers. Returns
 * the rewritten graph and how many dispatches it saves.
 */
export function fuseElementwise(graph: Graph, maxInputs: number): { graph: Graph; saved: number } {
  const { nodes } = graph;
  const readers = consumers(graph).map((r) => new Set(r));
  const isOutput = new Set(graph.outputs.map((o) => o.id));
  const rootOf = new Map<number, number>();
  const fusible = (n: Node) => ELEMENTWISE_OPS.has(n.op);

  const replaced = new Map<number, Node>();
  let saved = 0;
  for (let id = nodes.length - 1; id >= 0; id--) {
    const root = nodes[id]!;
    if (!fusible(root) || rootOf.has(id)) continue;
    rootOf.set(id, id);
    const members = new Set([id]);
    const external = new Set(root.inputs);
    // Grow the chain upwards from the root while producers have no other reader.
    const stack = [...root.inputs];
    while (stack.length) {
      const p = stack.pop()!;
      const producer = nodes[p]!;
      if (members.has(p) || rootOf.has(p) || !fusible(producer) || isOutput.has(p)) continue;
      if (![...readers[p]!].every((r) => members.has(r))) continue;
      const added = producer.inputs.filter((i) => !members.has(i) && !external.has(i) && i !== p);
      if (external.size - 1 + new Set(added).size > maxInputs) continue;
      members.add(p);
      rootOf.set(p, id);
      external.delete(p);
      for (const i of producer.inputs) if (!members.has(i)) external.add(i);
      stack.push(...producer.inputs);
    }
    if (members.size < 2) continue;
    const order = [...members].sort((a, b) => a - b);
    const inputs = order.flatMap((m) => nodes[m]!.inputs).filter((i, k, all) => !members.has(i) && all.indexOf(i) === k);
    const slot = new Map<number, number>();
    inputs.forEach((i, k) => slot.set(i, k));
    order.forEach((m, k) => slot.set(m, inputs.length + k));
    const steps: ElementwiseStep[] = order.map((m) => {
      const n = nodes[m]!;
      return { op: n.op, args: n.inputs.map((i) => slot.get(i)!), ...(n.op === "cast" ? { to: n.dtype } : {}) };
    });
    replaced.set(id, { id, op: FUSED_ELEMENTWISE, inputs, attrs: { steps: JSON.stringify(steps) }, shape: root.shape, dtype: root.dtype });
    saved += members.size - 1;
  }
  if (!saved) return { graph, saved };
  // The absorbed producers lose their only reader and are pruned.
  return { graph: prune({ ...graph, nodes: nodes.map((n) => replaced.get(n.id) ?? n) }), saved };
}

export const fusedElementwiseNode: KernelFactory = (node, inputs) =>
  elementwisePlan(node, {
    outShape: node.shape,
    inputs: inputs.map((x) => ({ t: wordType(x.dtype), shape: x.shape })),
    steps: JSON.parse(node.attrs.steps as string) as ElementwiseStep[],
  });
