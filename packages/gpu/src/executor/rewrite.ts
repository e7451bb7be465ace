import type { Graph, Node } from "@densessm/core";

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
