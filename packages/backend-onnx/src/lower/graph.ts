import { BackendError, getOp, type DType, type Graph, type Node, type Tensor } from "@densessm/core";
import { bytesOf, OnnxGraphBuilder } from "../onnx/builder.js";
import { attr, ELEM_TYPE, type ModelDef, type OnnxDType } from "../onnx/model.js";
import { COMPOSITE_RULES } from "./composites.js";
import type { LowerRule } from "./context.js";
import { PRIMITIVE_RULES } from "./primitives.js";
import { QUANT_RULES } from "./quant.js";

/** The opset written: 18 brings BitwiseXor (for `rand`) and ReduceMax with axes as an input. */
export const OPSET = 18;

const RULES: Readonly<Record<string, LowerRule>> = { ...PRIMITIVE_RULES, ...COMPOSITE_RULES, ...QUANT_RULES };

/** Ops this package lowers: every primitive and the composites with a fused ONNX form. */
export const LOWERED_OPS: ReadonlySet<string> = new Set(Object.keys(RULES));

/**
 * How a tensor crosses into onnxruntime's JS API, which has no bfloat16: those travel as float32
 * (exactly, since every bfloat16 is a float32) and are cast inside the graph.
 */
export const wireDType = (dtype: DType): OnnxDType => (dtype === "bfloat16" ? "float32" : dtype);

export interface LoweredBinding {
  /** The IR binding's name. */
  readonly name: string;
  /** Its name in the ONNX graph (differs only where an output's name is also an input's). */
  readonly onnxName: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
}

/** A gather whose indices come straight from a feed: checked on the host before each run. */
export interface IndexCheck {
  readonly nodeId: number;
  readonly feed: string;
  readonly axisSize: number;
}

export interface LoweredModel {
  readonly model: ModelDef;
  readonly inputs: readonly LoweredBinding[];
  readonly outputs: readonly LoweredBinding[];
  readonly indexChecks: readonly IndexCheck[];
}

export interface LowerOptions {
  /** Parameters to bake in as initializers (inference exports); others become graph inputs. */
  readonly initializers?: ReadonlyMap<string, Tensor>;
  /** Dimension names for the graph's inputs and outputs, by binding name and axis (exports). */
  readonly dynamicDims?: (binding: string, axis: number, size: number) => string | undefined;
  readonly graphName?: string;
  /**
   * Graph inputs computed inside the model instead of fed (exports look position feeds up by
   * position_ids, and cast int64 ids): each returns the value's name, adding inputs it needs.
   */
  readonly computedInputs?: Readonly<Record<string, (g: OnnxGraphBuilder) => string>>;
}

/** The ONNX node name of IR node `id`; runtime errors are mapped back to the node through it. */
export const nodeName = (node: Node): string => `n${node.id}_${node.op}`;

function tensorBytes(t: Tensor): Uint8Array {
  return new Uint8Array(bytesOf(t.data));
}

/**
 * Lowers a graph (already lowered by the Session to this backend's op set) to an ONNX model.
 * Inputs and parameters become graph inputs fed by name (or initializers when given), constants
 * become initializers, and each output gets an Identity (or Cast) naming it.
 */
export function lowerGraph(graph: Graph, options: LowerOptions = {}): LoweredModel {
  const g = new OnnxGraphBuilder();
  const values: string[] = [];
  const inputs: LoweredBinding[] = [];
  const indexChecks: IndexCheck[] = [];
  const taken = new Set<string>();
  const dims = (binding: string, shape: readonly number[]) => shape.map((d, i) => options.dynamicDims?.(binding, i, d) ?? d);

  for (const node of graph.nodes) {
    if (node.op === "input" || node.op === "param") {
      const name = node.attrs.name as string;
      const computed = node.op === "input" ? options.computedInputs?.[name] : undefined;
      if (computed) {
        values[node.id] = computed(g);
        continue;
      }
      const baked = node.op === "param" ? options.initializers?.get(name) : undefined;
      const onnxName = name;
      if (baked) {
        const value = baked.dtype === node.dtype ? baked : baked.to(node.dtype);
        values[node.id] = g.rawConstant(node.dtype, node.shape, tensorBytes(value), onnxName);
        taken.add(onnxName);
        continue;
      }
      const wire = wireDType(node.dtype);
      g.inputs.push({ name: onnxName, dtype: wire, dims: dims(name, node.shape) });
      taken.add(onnxName);
      inputs.push({ name, onnxName, dtype: node.dtype, shape: node.shape });
      values[node.id] = wire === node.dtype ? onnxName : g.op("Cast", [onnxName], { to: attr.int(ELEM_TYPE[node.dtype]) });
      continue;
    }
    if (node.op === "const") {
      const t = node.attrs.value as Tensor;
      values[node.id] = g.rawConstant(node.dtype, node.shape, tensorBytes(t.dtype === node.dtype ? t : t.to(node.dtype)));
      continue;
    }
    const rule = RULES[node.op];
    if (!rule) {
      const kind = getOp(node.op).kind;
      throw new BackendError(`onnx: no lowering for ${kind} op "${node.op}" (node %${node.id}); the graph was not lowered to this backend's op set`);
    }
    const inputNodes = node.inputs.map((i) => graph.nodes[i]!);
    if (node.op === "gather" && inputNodes[1]!.op === "input") {
      indexChecks.push({ nodeId: node.id, feed: inputNodes[1]!.attrs.name as string, axisSize: inputNodes[0]!.shape[node.attrs.axis as number]! });
    }
    g.scope = nodeName(node);
    const value = (i: number): Tensor | undefined => {
      const input = inputNodes[i];
      if (input?.op === "const") return input.attrs.value as Tensor;
      return input?.op === "param" ? options.initializers?.get(input.attrs.name as string) : undefined;
    };
    values[node.id] = rule({ g, node, inputNodes, inputs: node.inputs.map((i) => values[i]!), name: nodeName(node), value });
  }

  g.scope = "";
  for (const i of g.inputs) taken.add(i.name);
  const outputs: LoweredBinding[] = graph.outputs.map((o) => {
    const node = graph.nodes[o.id]!;
    let onnxName = o.name;
    // ONNX values have one name; an output that is also an input's name gets a suffix.
    while (taken.has(onnxName)) onnxName = `${onnxName}:out`;
    taken.add(onnxName);
    const wire = wireDType(node.dtype);
    if (wire === node.dtype) g.op("Identity", [values[o.id]!], undefined, { output: onnxName });
    else g.op("Cast", [values[o.id]!], { to: attr.int(ELEM_TYPE[wire]) }, { output: onnxName });
    g.outputs.push({ name: onnxName, dtype: wire, dims: dims(o.name, node.shape) });
    return { name: o.name, onnxName, dtype: node.dtype, shape: node.shape };
  });

  // A baked parameter that only a rule's own initializers replace (quantized codes in MatMulNBits'
  // form) would otherwise ship twice in an exported file.
  const used = new Set(g.nodes.flatMap((n) => n.inputs));
  const graphDef = g.build(options.graphName ?? "densessm");
  return {
    model: { graph: { ...graphDef, initializers: graphDef.initializers.filter((t) => used.has(t.name)) }, opsets: { "": OPSET, "com.microsoft": 1 } },
    inputs,
    outputs,
    indexChecks,
  };
}
