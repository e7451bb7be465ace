import protobuf from "protobufjs";
import { ONNX_PROTO } from "./onnx-proto.js";

/** Element types this package writes, with their TensorProto.DataType codes. */
export const ELEM_TYPE = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  uint32: 12,
  bfloat16: 16,
} as const;
export type OnnxDType = keyof typeof ELEM_TYPE;

/** An attribute value; the wrapper says which AttributeProto field it goes to. */
export type Attr =
  | { readonly kind: "int"; readonly value: number }
  | { readonly kind: "float"; readonly value: number }
  | { readonly kind: "string"; readonly value: string }
  | { readonly kind: "ints"; readonly value: readonly number[] }
  | { readonly kind: "floats"; readonly value: readonly number[] }
  | { readonly kind: "tensor"; readonly value: TensorInit }
  | { readonly kind: "graph"; readonly value: GraphDef };

export const attr = {
  int: (value: number): Attr => ({ kind: "int", value }),
  float: (value: number): Attr => ({ kind: "float", value }),
  string: (value: string): Attr => ({ kind: "string", value }),
  ints: (value: readonly number[]): Attr => ({ kind: "ints", value }),
  floats: (value: readonly number[]): Attr => ({ kind: "floats", value }),
  tensor: (value: TensorInit): Attr => ({ kind: "tensor", value }),
  graph: (value: GraphDef): Attr => ({ kind: "graph", value }),
};

/** A tensor's bytes, little-endian as ONNX's raw_data wants, or a pointer into an external file. */
export interface TensorInit {
  readonly name: string;
  readonly dtype: OnnxDType;
  readonly dims: readonly number[];
  readonly raw?: Uint8Array;
  readonly external?: { readonly location: string; readonly offset: number; readonly length: number };
}

export interface NodeDef {
  readonly opType: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly name: string;
  readonly domain?: string;
  readonly attrs?: Readonly<Record<string, Attr>>;
}

export interface ValueInfo {
  readonly name: string;
  readonly dtype: OnnxDType;
  /** Static dims, or a symbolic name for a dynamic one. */
  readonly dims: readonly (number | string)[];
}

export interface GraphDef {
  readonly name: string;
  readonly nodes: readonly NodeDef[];
  readonly initializers: readonly TensorInit[];
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
}

export interface ModelDef {
  readonly graph: GraphDef;
  /** Opset versions by domain ("" is ai.onnx). */
  readonly opsets: Readonly<Record<string, number>>;
  readonly metadata?: Readonly<Record<string, string>>;
  readonly docString?: string;
}

/** ONNX IR version 8 goes with opset 18 and is read by every onnxruntime since 1.14. */
export const IR_VERSION = 8;

let root: protobuf.Root | undefined;
function modelType(): protobuf.Type {
  root ??= protobuf.parse(ONNX_PROTO, { keepCase: true }).root;
  return root.lookupType("onnx.ModelProto");
}

function attributeProto(name: string, a: Attr): Record<string, unknown> {
  switch (a.kind) {
    case "int":
      return { name, type: 2, i: a.value };
    case "float":
      return { name, type: 1, f: a.value };
    case "string":
      return { name, type: 3, s: new TextEncoder().encode(a.value) };
    case "ints":
      return { name, type: 7, ints: [...a.value] };
    case "floats":
      return { name, type: 6, floats: [...a.value] };
    case "tensor":
      return { name, type: 4, t: tensorProto(a.value) };
    case "graph":
      return { name, type: 5, g: graphProto(a.value) };
  }
}

function tensorProto(t: TensorInit): Record<string, unknown> {
  const base = { name: t.name, data_type: ELEM_TYPE[t.dtype], dims: [...t.dims] };
  if (t.external) {
    const { location, offset, length } = t.external;
    return {
      ...base,
      data_location: 1,
      external_data: [
        { key: "location", value: location },
        { key: "offset", value: String(offset) },
        { key: "length", value: String(length) },
      ],
    };
  }
  return { ...base, raw_data: t.raw ?? new Uint8Array(0) };
}

function valueInfoProto(v: ValueInfo): Record<string, unknown> {
  const dim = v.dims.map((d) => (typeof d === "number" ? { dim_value: d } : { dim_param: d }));
  return { name: v.name, type: { tensor_type: { elem_type: ELEM_TYPE[v.dtype], shape: { dim } } } };
}

function graphProto(g: GraphDef): Record<string, unknown> {
  return {
    name: g.name,
    node: g.nodes.map((n) => ({
      name: n.name,
      op_type: n.opType,
      domain: n.domain ?? "",
      input: [...n.inputs],
      output: [...n.outputs],
      attribute: Object.entries(n.attrs ?? {}).map(([k, a]) => attributeProto(k, a)),
    })),
    initializer: g.initializers.map(tensorProto),
    input: g.inputs.map(valueInfoProto),
    output: g.outputs.map(valueInfoProto),
  };
}

/** Serializes a model to ONNX protobuf bytes. */
export function encodeModel(model: ModelDef): Uint8Array {
  const type = modelType();
  const message = type.fromObject({
    ir_version: IR_VERSION,
    producer_name: "densessm.js",
    producer_version: "0",
    opset_import: Object.entries(model.opsets).map(([domain, version]) => ({ domain, version })),
    graph: graphProto(model.graph),
    doc_string: model.docString ?? "",
    metadata_props: Object.entries(model.metadata ?? {}).map(([key, value]) => ({ key, value })),
  });
  return type.encode(message).finish();
}

/** Decodes model bytes back to a plain object (for tests and tools). */
export function decodeModel(bytes: Uint8Array): Record<string, unknown> {
  const type = modelType();
  return type.toObject(type.decode(bytes), { longs: Number, bytes: Array, defaults: false }) as Record<string, unknown>;
}
