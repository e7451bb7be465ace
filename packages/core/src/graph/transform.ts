import { DenseSSMError } from "../errors.js";
import type { Tensor } from "../tensor/tensor.js";
import { getOp } from "../ops/registry.js";
import type { Graph, Node } from "./graph.js";
import { liveNodes } from "./graph.js";
import { GraphBuilder, type ExpandPolicy, type SymTensor } from "./symbolic.js";

/**
 * Re-traces `graph` into `builder`, node by node, and returns each old node's new symbolic tensor.
 * Every graph transformation (lowering, autodiff, deserialization) is a replay with a different
 * builder policy, so shape checks and composite expansion happen in exactly one place.
 */
export function replay(graph: Graph, builder: GraphBuilder): SymTensor[] {
  const map: SymTensor[] = [];
  const nodes = graph.nodes;
  for (const node of nodes) map[node.id] = replayNode(node, builder, map);
  return map;
}

/** Re-traces one node whose inputs `map` already holds (see `replay`). */
export function replayNode(node: Node, builder: GraphBuilder, map: readonly SymTensor[]): SymTensor {
  switch (node.op) {
    case "input":
      return builder.input(node.attrs.name as string, node.shape, node.dtype);
    case "param":
      return builder.param(node.attrs.name as string, node.shape, node.dtype);
    case "const":
      return builder.constant(node.attrs.value as Tensor);
    default:
      return builder.emit(
        getOp(node.op),
        node.inputs.map((i) => map[i]!),
        node.attrs,
      );
  }
}

/** Copies `graph` with the given composite-expansion policy, keeping its bindings. */
export function rebuild(graph: Graph, expand?: ExpandPolicy): { builder: GraphBuilder; map: SymTensor[] } {
  const builder = new GraphBuilder(expand ? { expand } : {});
  const map = replay(graph, builder);
  for (const o of graph.outputs) builder.output(o.name, map[o.id]!);
  return { builder, map };
}

/** Drops nodes no output depends on and renumbers the rest (inputs and params are always kept). */
export function prune(graph: Graph): Graph {
  const live = liveNodes(graph);
  for (const b of [...graph.inputs, ...graph.params]) live.add(b.id);
  if (live.size === graph.nodes.length) return graph;
  const renumber = new Map<number, number>();
  const nodes: Node[] = [];
  for (const node of graph.nodes) {
    if (!live.has(node.id)) continue;
    const id = nodes.length;
    renumber.set(node.id, id);
    nodes.push({ ...node, id, inputs: node.inputs.map((i) => renumber.get(i)!) });
  }
  const rebind = (b: { name: string; id: number }) => ({ name: b.name, id: renumber.get(b.id)! });
  return { nodes, inputs: graph.inputs.map(rebind), params: graph.params.map(rebind), outputs: graph.outputs.map(rebind) };
}

/**
 * Rewrites `graph` for a backend: composite ops it does not run natively become their reference
 * decompositions (recursively), and dead nodes are dropped.
 */
export function lower(graph: Graph, supports: (op: string) => boolean): Graph {
  const needsWork = graph.nodes.some((n) => getOp(n.op).kind === "composite" && !supports(n.op));
  if (!needsWork) return prune(graph);
  return prune(rebuild(graph, (def) => !supports(def.name)).builder.build());
}

/** The same graph computing only the named outputs (and nothing they do not need). */
export function selectOutputs(graph: Graph, names: readonly string[]): Graph {
  const outputs = names.map((name) => {
    const o = graph.outputs.find((b) => b.name === name);
    if (!o) throw new DenseSSMError(`selectOutputs: the graph has no output "${name}" (outputs: ${graph.outputs.map((b) => b.name).join(", ")})`);
    return o;
  });
  return prune({ ...graph, outputs });
}
