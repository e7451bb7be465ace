import { prune, type Graph, type Node } from "@densessm/core";

/** Whether a permute only swaps the last two axes. */
function swapsLastTwo(node: Node): boolean {
  if (node.op !== "permute") return false;
  const perm = node.attrs.perm as readonly number[];
  const r = perm.length;
  return r >= 2 && perm[r - 1] === r - 2 && perm[r - 2] === r - 1 && perm.slice(0, -2).every((p, i) => p === i);
}

/**
 * A matmul whose right operand is a last-two-axes transpose reads the untransposed tensor in place
 * (`attrs.transB`): linear layers (x @ W^T) then stream W's rows, and the transpose copy vanishes
 * when nothing else reads it.
 */
export function foldTransposes(graph: Graph): Graph {
  let changed = false;
  const nodes = graph.nodes.map((node): Node => {
    if (node.op !== "matmul") return node;
    const rhs = graph.nodes[node.inputs[1]!]!;
    if (!swapsLastTwo(rhs)) return node;
    changed = true;
    return { ...node, inputs: [node.inputs[0]!, rhs.inputs[0]!], attrs: { ...node.attrs, transB: true } };
  });
  return changed ? prune({ ...graph, nodes }) : graph;
}

/**
 * Marks the matmuls that read a rank-2 float32 parameter as a transposed right operand (linear
 * layers: `x @ Wᵀ`) to read it from a packed float16 copy (`attrs.packedB`), and returns the ids
 * of those parameters. The executable makes each packed copy once and keeps it while the
 * parameter's buffer lives.
 */
export function packLinearWeights(graph: Graph): { graph: Graph; params: Set<number> } {
  const params = new Set<number>();
  const nodes = graph.nodes.map((node): Node => {
    if (node.op !== "matmul" || node.attrs.transB !== true) return node;
    const w = graph.nodes[node.inputs[1]!]!;
    if (w.op !== "param" || w.shape.length !== 2 || w.dtype !== "float32") return node;
    params.add(w.id);
    return { ...node, attrs: { ...node.attrs, packedB: true } };
  });
  return { graph: params.size ? { ...graph, nodes } : graph, params };
}
