import { FormatError } from "../errors.js";
import { allocate, assertDType, byteSize, type DType } from "../tensor/dtype.js";
import { Tensor } from "../tensor/tensor.js";
import type { AttrValue, Graph } from "./graph.js";
import { base64ToBytes, bytesToBase64 } from "../util/base64.js";
import { GraphBuilder } from "./symbolic.js";
import { replay } from "./transform.js";

function formatAttr(value: AttrValue): string {
  if (value instanceof Tensor) return value.size <= 4 ? `${value.dtype}${JSON.stringify(value.toArray())}` : value.toString();
  return JSON.stringify(value);
}

/** A readable listing, one node a line: `%4 = matmul(%2, %3) : float32[2, 8]`. */
export function printGraph(graph: Graph): string {
  const lines = graph.nodes.map((n) => {
    const attrs = Object.entries(n.attrs)
      .map(([k, v]) => `${k}=${formatAttr(v)}`)
      .join(", ");
    const args = n.inputs.map((i) => `%${i}`).join(", ");
    return `%${n.id} = ${n.op}(${args})${attrs ? ` {${attrs}}` : ""} : ${n.dtype}[${n.shape.join(", ")}]`;
  });
  const outs = graph.outputs.map((o) => `${o.name}=%${o.id}`).join(", ");
  return [...lines, `return ${outs}`].join("\n");
}

interface SerializedTensor {
  $tensor: { dtype: DType; shape: number[]; data: string };
}

function encodeTensor(t: Tensor): SerializedTensor {
  const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return { $tensor: { dtype: t.dtype, shape: [...t.shape], data: bytesToBase64(bytes) } };
}

function decodeTensor(s: SerializedTensor["$tensor"]): Tensor {
  const dtype = assertDType(s.dtype, "serialized constant");
  const bytes = base64ToBytes(s.data);
  const data = allocate(dtype, bytes.byteLength / byteSize(dtype));
  new Uint8Array(data.buffer).set(bytes);
  return new Tensor(data, s.shape, dtype);
}

/** A JSON string that `deserializeGraph` turns back into an identical graph. */
export function serializeGraph(graph: Graph): string {
  return JSON.stringify({ format: "densessm-graph", version: 1, ...graph }, (_key, value: unknown) => (value instanceof Tensor ? encodeTensor(value) : value));
}

/**
 * Parses a serialized graph and re-traces it, so every op is re-validated: an unknown op, a shape
 * that does not check, or a dangling reference is an error naming the node.
 */
export function deserializeGraph(json: string): Graph {
  let raw: unknown;
  try {
    raw = JSON.parse(json, (_key, value: unknown) => (value && typeof value === "object" && "$tensor" in value ? decodeTensor((value as SerializedTensor).$tensor) : value));
  } catch (e) {
    throw new FormatError(`graph: not valid JSON (${(e as Error).message})`);
  }
  const g = raw as Graph & { format?: string; version?: number };
  if (g.format !== "densessm-graph" || g.version !== 1 || !Array.isArray(g.nodes) || !Array.isArray(g.outputs)) {
    throw new FormatError("graph: not a densessm-graph version 1 document");
  }
  g.nodes.forEach((n, i) => {
    if (n.id !== i || n.inputs.some((x: number) => !(x >= 0 && x < i))) throw new FormatError(`graph: node %${i} (${n.op}) refers to a node that does not precede it`);
  });
  const builder = new GraphBuilder();
  const map = replay(g, builder);
  for (const o of g.outputs) {
    const s = map[o.id];
    if (!s) throw new FormatError(`graph: output "${o.name}" refers to missing node %${o.id}`);
    builder.output(o.name, s);
  }
  return builder.build();
}
