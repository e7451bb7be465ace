import { BackendError, type Graph, type Node } from "@densessm/core";
import { PACK_BYTES, WIDEN_BYTES } from "../kernels/quant.js";

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

/** Where a kernel reads int8/uint8 inputs as raw bytes (kernels/quant.ts): op → input positions. */
const READS_BYTES: Readonly<Record<string, readonly number[]>> = { quantizedMatmul: [1], dequantize: [0], gather: [0], reshape: [0] };
/** Ops that only move elements: with a widened input they give the same values in int32. */
const MOVES = new Set(["permute", "slice", "expand", "concat", "pad", "gather", "reshape"]);

const isBytes = (node: Node): boolean => node.dtype === "int8" || node.dtype === "uint8";

/**
 * int8/uint8 tensors (quantized codes) live on the device as raw bytes, which only the quantized
 * products, dequantize, gather and reshape read. Any other reader gets the tensor widened to one
 * int32 per element (`gpu.widenBytes`, made once per tensor), an op that only moves such elements
 * (a slice of codes, say) then runs on int32, and an int8/uint8 graph output computed that way is
 * packed back into bytes (`gpu.packBytes`). Other ops that would produce int8/uint8 (a cast) have
 * no kernel and are refused. Node ids are renumbered (nodes are inserted).
 */
export function byteStorage(graph: Graph, backend = "gpu"): Graph {
  if (!graph.nodes.some(isBytes)) return graph;
  const nodes: Node[] = [];
  const id = new Map<number, number>(); // old id -> new id
  const widened = new Map<number, number>(); // new id of a byte node -> new id of its widened copy
  const push = (node: Omit<Node, "id">): number => {
    nodes.push({ ...node, id: nodes.length });
    return nodes.length - 1;
  };
  const widen = (src: number): number => {
    let w = widened.get(src);
    if (w === undefined) {
      w = push({ op: WIDEN_BYTES, inputs: [src], attrs: {}, shape: nodes[src]!.shape, dtype: "int32" });
      widened.set(src, w);
    }
    return w;
  };
  for (const node of graph.nodes) {
    const inputs = node.inputs.map((old, p) => {
      const src = id.get(old)!;
      return isBytes(nodes[src]!) && !READS_BYTES[node.op]?.includes(p) ? widen(src) : src;
    });
    let dtype = node.dtype;
    const feed = node.op === "input" || node.op === "param" || node.op === "const";
    if (isBytes(node) && !feed && !(READS_BYTES[node.op] && isBytes(nodes[inputs[0]!]!))) {
      if (!MOVES.has(node.op)) throw new BackendError(`${backend}: node %${node.id} (${node.op}) produces ${node.dtype}, which has no kernel (int8/uint8 tensors are quantized codes)`);
      dtype = "int32";
    }
    id.set(node.id, push({ ...node, inputs, dtype }));
  }
  const outputs = graph.outputs.map((o) => {
    const src = id.get(o.id)!;
    const want = graph.nodes[o.id]!.dtype;
    return nodes[src]!.dtype === want ? { ...o, id: src } : { ...o, id: push({ op: PACK_BYTES, inputs: [src], attrs: {}, shape: nodes[src]!.shape, dtype: want }) };
  });
  const rebind = (bs: Graph["inputs"]) => bs.map((b) => ({ ...b, id: id.get(b.id)! }));
  return { nodes, inputs: rebind(graph.inputs), params: rebind(graph.params), outputs };
}
