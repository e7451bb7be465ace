import { prune, stridesOf, type Graph, type Node } from "@densessm/core";
import { ELEMENTWISE_OPS, elementwisePlan, type ElementwiseStep } from "./elementwise.js";
import { wordType } from "./grid.js";
import type { KernelFactory } from "./types.js";

/** The op of a fused elementwise chain in an executor's graph (never in a traced graph). */
export const FUSED_ELEMENTWISE = "gpu.elementwise";

/** Views a chain can read through instead of materialising them (reshape only of contiguous data). */
const VIEWS = new Set(["permute", "slice", "expand", "reshape"]);

/** Where a chain reads a node's elements: `base + Σ_e coord_e * strides[e]` in `source`'s buffer. */
interface Access {
  readonly source: number;
  readonly strides: readonly number[];
  readonly base: number;
}

/** `node`, a view of a tensor read through `inner`, as a map over the view's own coordinates. */
function throughView(node: Node, input: Node, inner: Access): Access {
  const { source, strides, base } = inner;
  switch (node.op) {
    case "permute":
      return { source, base, strides: (node.attrs.perm as readonly number[]).map((p) => strides[p]!) };
    case "slice": {
      const starts = node.attrs.starts as readonly number[];
      return { source, strides, base: base + starts.reduce((acc, s, e) => acc + s * strides[e]!, 0) };
    }
    case "expand": {
      const lead = node.shape.length - input.shape.length;
      return { source, base, strides: node.shape.map((_, e) => (e < lead || input.shape[e - lead] === 1 ? 0 : strides[e - lead]!)) };
    }
    default: // reshape of contiguous data (checked when it joined the chain)
      return { source, base, strides: stridesOf(node.shape) };
  }
}

/**
 * Fuses chains of elementwise nodes (silu·mul, add then cast, a residual add's operands, ...)
 * into single nodes that run as one generated kernel: a node joins its consumer's chain when that
 * consumer is its only reader and it is not a graph output, as long as the chain binds at most
 * `maxInputs` buffers. Permutes, slices and expands (and reshapes of contiguous data) that only
 * the chain reads are absorbed as index maps instead of copies. Intermediates then live in
 * registers instead of device buffers. Returns the rewritten graph and how many dispatches it saves.
 */
export function fuseElementwise(graph: Graph, maxInputs: number): { graph: Graph; saved: number } {
  const { nodes } = graph;
  const readers = nodes.map(() => new Set<number>());
  for (const n of nodes) for (const i of n.inputs) readers[i]!.add(n.id);
  const isOutput = new Set(graph.outputs.map((o) => o.id));
  const taken = new Set<number>();

  const replaced = new Map<number, Node>();
  let saved = 0;
  for (let id = nodes.length - 1; id >= 0; id--) {
    const root = nodes[id]!;
    if (!ELEMENTWISE_OPS.has(root.op) || taken.has(id)) continue;
    const members = new Set([id]);
    const views = new Set<number>();
    const inGroup = (r: number) => members.has(r) || views.has(r);
    const external = new Set(root.inputs);
    // Grow the chain upwards from the root while producers have no reader outside it.
    const stack = [...root.inputs];
    while (stack.length) {
      const p = stack.pop()!;
      const producer = nodes[p]!;
      if (inGroup(p) || taken.has(p) || isOutput.has(p) || ![...readers[p]!].every(inGroup)) continue;
      if (ELEMENTWISE_OPS.has(producer.op)) {
        // Values computed in the chain are indexed like the output (right-aligned broadcast), so a
        // producer read through a view stays outside: views map only buffers the chain reads.
        if (![...readers[p]!].every((r) => members.has(r))) continue;
        const added = new Set(producer.inputs.filter((i) => !inGroup(i) && !external.has(i)));
        if (external.size - 1 + added.size > maxInputs) continue;
        members.add(p);
        external.delete(p);
        for (const i of producer.inputs) if (!inGroup(i)) external.add(i);
        stack.push(...producer.inputs);
      } else if (VIEWS.has(producer.op)) {
        // A reshape needs its input contiguous: it may read through other reshapes only.
        const underReshape = [...readers[p]!].some((r) => views.has(r) && nodes[r]!.op === "reshape");
        const contiguous = producer.op === "reshape" || !underReshape;
        if (!contiguous) continue;
        views.add(p);
        external.delete(p);
        external.add(producer.inputs[0]!);
        stack.push(producer.inputs[0]!);
      }
    }
    // Launches saved: every absorbed elementwise node, and every absorbed view that was a copy.
    const savedHere = members.size - 1 + [...views].filter((v) => nodes[v]!.op !== "reshape").length;
    if (!savedHere) continue;
    for (const m of [...members, ...views]) taken.add(m);

    const accessOf = (v: number): Access => {
      if (!views.has(v)) return { source: v, strides: stridesOf(nodes[v]!.shape), base: 0 };
      const node = nodes[v]!;
      return throughView(node, nodes[node.inputs[0]!]!, accessOf(node.inputs[0]!));
    };
    // Each read of a node outside the chain becomes a kernel input mapped from the output index.
    const order = [...members].sort((a, b) => a - b);
    const inputs: Access[] = [];
    const keys: string[] = [];
    const slotOf = (v: number): number => {
      const shape = nodes[v]!.shape;
      const a = accessOf(v);
      const lead = root.shape.length - shape.length;
      const strides = root.shape.map((_, d) => (d < lead || shape[d - lead] === 1 ? 0 : a.strides[d - lead]!));
      const key = `${a.source}:${a.base}:${strides.join(",")}`;
      let slot = keys.indexOf(key);
      if (slot < 0) {
        slot = keys.push(key) - 1;
        inputs.push({ source: a.source, strides, base: a.base });
      }
      return slot;
    };
    const argsOf = order.map((m) => nodes[m]!.inputs.map((i) => (members.has(i) ? -1 - order.indexOf(i) : slotOf(i))));
    const steps: ElementwiseStep[] = order.map((m, k) => {
      const n = nodes[m]!;
      const args = argsOf[k]!.map((a) => (a < 0 ? inputs.length + (-1 - a) : a));
      return { op: n.op, args, ...(n.op === "cast" ? { to: n.dtype } : {}) };
    });
    const maps = inputs.map(({ strides, base }) => ({ strides, base }));
    replaced.set(id, { id, op: FUSED_ELEMENTWISE, inputs: inputs.map((a) => a.source), attrs: { steps: JSON.stringify(steps), maps: JSON.stringify(maps) }, shape: root.shape, dtype: root.dtype });
    saved += savedHere;
  }
  if (!saved) return { graph, saved };
  // The absorbed producers lose their only reader and are pruned.
  return { graph: prune({ ...graph, nodes: nodes.map((n) => replaced.get(n.id) ?? n) }), saved };
}

export const fusedElementwiseNode: KernelFactory = (node, inputs) => {
  const maps = JSON.parse(node.attrs.maps as string) as { strides: number[]; base: number }[];
  return elementwisePlan(node, {
    outShape: node.shape,
    inputs: maps.map((m, j) => ({ t: wordType(inputs[j]!.dtype), ...m })),
    steps: JSON.parse(node.attrs.steps as string) as ElementwiseStep[],
  });
};
