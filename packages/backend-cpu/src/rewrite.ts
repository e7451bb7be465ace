import { prune, type Graph, type Node } from "@densessm/core";

/** Whether a permute only swaps the last two axes. */
function swapsLastTwo(node: Node): boolean {
  if (node.op !== "permute") return false;
  const perm = node.attrs.perm as readonly number[];
  const r = perm.length;
  return r >= 2 && perm[r - 1] === r - 2 && perm[r - 2] === r - 1 && perm.slice(0, -2).every((p, i) => p === i);
}

/**
 * Backend-private rewrite: a matmul whose right operand is a last-two-axes transpose reads the
 * untransposed tensor instead (`attrs.transB`), and the transpose disappears when nothing else
 * reads it. Linear layers (x @ W^T) and most backward matmuls hit this. Liveness is planned on the
 * rewritten graph, so buffers stay alive exactly as long as the new readers need them.
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
  // A transpose that nothing reads any more is dropped by prune.
  return changed ? prune({ ...graph, nodes }) : graph;
}
