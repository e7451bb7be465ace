import type { DType } from "../tensor/dtype.js";
import type { Tensor } from "../tensor/tensor.js";
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

/** The compute dtype that carries each storage dtype exactly. */
const CARRIER: Readonly<Partial<Record<DType, DType>>> = { int8: "int32", uint8: "int32", float16: "float32", bfloat16: "float32" };

/** Ops that only move or select elements, so they give the same values in a wider dtype. */
const MOVES = new Set(["reshape", "permute", "slice", "expand", "concat", "pad", "gather"]);

/**
 * Lets a backend run graphs holding storage dtypes it has no buffers for: inputs, parameters and
 * constants of such a dtype (int8/uint8 codes, float16 weights) are retyped to the compute dtype
 * that holds their values exactly (int32, float32), and so are the ops that only move elements of
 * them. Anything else on such a dtype (a cast that rounds to float16, say) is left for the
 * backend's dtype check to report. Feeds must then be converted to the new binding dtypes.
 */
export function widenStorage(graph: Graph, held: readonly DType[]): Graph {
  let changed = false;
  const nodes = graph.nodes.map((node): Node => {
    const carrier = CARRIER[node.dtype];
    if (held.includes(node.dtype) || !carrier || !held.includes(carrier)) return node;
    if (node.op === "const") {
      changed = true;
      return { ...node, dtype: carrier, attrs: { ...node.attrs, value: (node.attrs.value as Tensor).to(carrier) } };
    }
    if (node.op !== "input" && node.op !== "param" && !MOVES.has(node.op)) return node;
    changed = true;
    return { ...node, dtype: carrier };
  });
  return changed ? { ...graph, nodes } : graph;
}
