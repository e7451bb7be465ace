import type { Graph, Node } from "./graph.js";
import { prune } from "./transform.js";

/** Whether a permute only swaps the last two axes. */
function swapsLastTwo(node: Node): boolean {
  if (node.op !== "permute") return false;
  const perm = node.attrs.perm as readonly number[];
  const r = perm.length;
  return r >= 2 && perm[r - 1] === r - 2 && perm[r - 2] === r - 1 && perm.slice(0, -2).every((p, i) => p === i);
}

/**
 * An optional rewrite for backends whose matmul can read its right operand transposed: a matmul of
 * a last-two-axes transpose reads the untransposed tensor instead (`attrs.transB` on the matmul),
 * and the transpose disappears when nothing else reads it. Linear layers (x @ Wᵀ) and most backward
 * matmuls hit this. Plan buffers on the rewritten graph, whose readers are the true ones.
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
