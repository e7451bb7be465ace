import { float32ToBFloat16Bits, float32ToFloat16Bits, type DType, type Node, type Tensor } from "@densessm/core";
import type { OnnxGraphBuilder } from "../onnx/builder.js";
import { ELEM_TYPE, type OnnxDType } from "../onnx/model.js";

/** What a lowering rule sees: the builder, the IR node, and the ONNX names of its inputs. */
export interface LowerContext {
  readonly g: OnnxGraphBuilder;
  readonly node: Node;
  /** The IR nodes feeding `node`, in order. */
  readonly inputNodes: readonly Node[];
  /** ONNX value names of those inputs. */
  readonly inputs: readonly string[];
  /** The ONNX node name for the op that computes the node's result (it names the node in errors). */
  readonly name: string;
  /** Input i's value when it is known while lowering (a constant, or a parameter baked in). */
  value(input: number): Tensor | undefined;
}

export type LowerRule = (ctx: LowerContext) => string;

/** IR dtypes map one to one onto ONNX element types. */
export const onnxDType = (dtype: DType): OnnxDType => dtype;
export const elemType = (dtype: OnnxDType): number => ELEM_TYPE[dtype];

/** A scalar constant of an IR dtype (half formats written as their exact bits). */
export function scalarOf(g: OnnxGraphBuilder, dtype: DType, value: number, dims: readonly number[] = []): string {
  const count = dims.reduce((n, d) => n * d, 1); // every element holds the value
  if (dtype === "float16" || dtype === "bfloat16") {
    const bits = dtype === "float16" ? float32ToFloat16Bits(value) : float32ToBFloat16Bits(value);
    return g.rawConstant(dtype, dims, new Uint8Array(new Uint16Array(count).fill(bits).buffer));
  }
  return g.constant(dtype, dims, new Array<number>(count).fill(value));
}

/** Pads for one axis in ONNX's layout ([all befores..., all afters...]). */
export function axisPads(rank: number, axis: number, before: number, after: number): number[] {
  const pads = new Array<number>(2 * rank).fill(0);
  pads[axis] = before;
  pads[rank + axis] = after;
  return pads;
}
