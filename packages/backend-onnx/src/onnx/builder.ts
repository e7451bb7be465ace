import type { Attr, GraphDef, NodeDef, OnnxDType, TensorInit, ValueInfo } from "./model.js";

/** Little-endian bytes of a typed array (every platform onnxruntime runs on is little-endian). */
export function bytesOf(data: ArrayBufferView): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function typedFor(dtype: OnnxDType, values: readonly number[]): ArrayBufferView {
  switch (dtype) {
    case "float32":
      return Float32Array.from(values);
    case "int32":
      return Int32Array.from(values);
    case "int64":
      return BigInt64Array.from(values.map((v) => BigInt(v)));
    case "uint32":
      return Uint32Array.from(values);
    case "bool":
    case "uint8":
      return Uint8Array.from(values);
    case "int8":
      return Int8Array.from(values);
    case "float16":
    case "bfloat16":
      throw new Error(`constants of ${dtype} are written as raw bits, not numbers`);
  }
}

/**
 * Accumulates one ONNX graph: nodes with fresh value names, small constants as deduplicated
 * initializers, and the graph's typed inputs and outputs.
 */
export class OnnxGraphBuilder {
  readonly nodes: NodeDef[] = [];
  readonly initializers: TensorInit[] = [];
  readonly inputs: ValueInfo[] = [];
  readonly outputs: ValueInfo[] = [];
  private counter = 0;
  /** Prefixes default node names, so a runtime error inside a multi-node lowering names its IR node. */
  scope = "";
  private readonly constants = new Map<string, string>();

  constructor(private readonly prefix = "") {}

  /** A value name no binding can collide with (bindings never start with "%"). */
  fresh(hint: string): string {
    return `%${this.prefix}${hint}_${this.counter++}`;
  }

  /** Adds a node with one output and returns that output's name. */
  op(opType: string, inputs: readonly string[], attrs?: Record<string, Attr>, options: { name?: string; domain?: string; output?: string } = {}): string {
    const output = options.output ?? this.fresh(opType);
    this.nodes.push({ opType, inputs, outputs: [output], name: options.name ?? (this.scope ? `${this.scope}/${output.slice(1)}` : output), ...(options.domain ? { domain: options.domain } : {}), ...(attrs ? { attrs } : {}) });
    return output;
  }

  /** Adds a node with several outputs. */
  opMulti(opType: string, inputs: readonly string[], count: number, attrs?: Record<string, Attr>, domain?: string): string[] {
    const outputs = Array.from({ length: count }, () => this.fresh(opType));
    this.nodes.push({ opType, inputs, outputs, name: this.scope ? `${this.scope}/${outputs[0]!.slice(1)}` : outputs[0]!, ...(domain ? { domain } : {}), ...(attrs ? { attrs } : {}) });
    return outputs;
  }

  /** A constant initializer from numbers; identical small constants share one initializer. */
  constant(dtype: OnnxDType, dims: readonly number[], values: readonly number[]): string {
    const key = values.length <= 64 ? `${dtype}|${dims.join(",")}|${values.join(",")}` : undefined;
    const known = key ? this.constants.get(key) : undefined;
    if (known) return known;
    const name = this.fresh("const");
    this.initializers.push({ name, dtype, dims, raw: new Uint8Array(bytesOf(typedFor(dtype, values))) });
    if (key) this.constants.set(key, name);
    return name;
  }

  /** A constant initializer from raw little-endian bytes. */
  rawConstant(dtype: OnnxDType, dims: readonly number[], raw: Uint8Array, name = this.fresh("const")): string {
    this.initializers.push({ name, dtype, dims, raw });
    return name;
  }

  int64s(values: readonly number[]): string {
    return this.constant("int64", [values.length], values);
  }

  scalar(dtype: OnnxDType, value: number): string {
    return this.constant(dtype, [], [value]);
  }

  build(name: string): GraphDef {
    return { name, nodes: this.nodes, initializers: this.initializers, inputs: this.inputs, outputs: this.outputs };
  }
}
