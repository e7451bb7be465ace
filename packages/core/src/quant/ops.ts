import { DTypeError, ShapeError } from "../errors.js";
import type { SymTensor, TensorLike } from "../graph/symbolic.js";
import { gather } from "../ops/indexing.js";
import { asSym, expectArity, input } from "../ops/helpers.js";
import { matmul } from "../ops/matmul.js";
import { defineOp, type CompositeOpDef, type TypeInfo } from "../ops/registry.js";
import { formatShape } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { checkQuantizedShapes, quantizedLayout, type WeightQuantization } from "./format.js";

/** Attributes of the quantized ops: the format (format.ts) and the true row length. */
export type QuantAttrs = { readonly bits: WeightQuantization["bits"]; readonly groupSize: number; readonly cols: number };

function checkCodes(codes: TypeInfo, scale: TypeInfo, attrs: QuantAttrs, op: string): void {
  const want = attrs.bits === 8 ? "int8" : "uint8";
  if (codes.dtype !== want) throw new DTypeError(`${op}: ${attrs.bits}-bit codes must be ${want}, got ${codes.dtype}`);
  if (scale.dtype !== "float32") throw new DTypeError(`${op}: scale must be float32, got ${scale.dtype}`);
  checkQuantizedShapes(codes.shape, scale.shape, attrs, attrs.cols, op);
}

/** byte -> [low nibble - 8, high nibble - 8]: unpacks 4-bit codes with one gather. */
let nibbleTable: Tensor | undefined;
function nibbles(): Tensor {
  nibbleTable ??= Tensor.float32(Array.from({ length: 512 }, (_, i) => ((i & 1 ? (i >> 1) >> 4 : (i >> 1) & 15) - 8)), [256, 2]);
  return nibbleTable;
}

/**
 * codes [..., rows, rowBytes] and scale [..., rows, groups] → float32 [..., rows, cols]: each code
 * minus its zero point, times its group's scale. Embeddings gather rows of codes and scales first
 * and dequantize only those.
 */
export const DEQUANTIZE = defineOp({
  name: "dequantize",
  kind: "composite",
  doc: "quantized codes [..., rows, bytes] and group scales [..., rows, groups] → float32 [..., rows, cols]",
  infer: (inputs: readonly TypeInfo[], attrs: QuantAttrs) => {
    expectArity(inputs, 2, "dequantize");
    const codes = input(inputs, 0, "dequantize");
    checkCodes(codes, input(inputs, 1, "dequantize"), attrs, "dequantize");
    return { shape: [...codes.shape.slice(0, -1), attrs.cols], dtype: "float32" };
  },
  decompose: ([codes, scale], attrs: QuantAttrs) => {
    const lead = codes!.shape.slice(0, -1);
    const { groups } = quantizedLayout(attrs, 1, attrs.cols);
    const padded = groups * attrs.groupSize;
    const values = attrs.bits === 8 ? codes!.cast("float32") : gather(codes!.builder.constant(nibbles()), codes!.cast("int32"), 0).reshape([...lead, padded]);
    const scaled = values.reshape([...lead, groups, attrs.groupSize]).mul(scale!.unsqueeze(-1)).reshape([...lead, padded]);
    return padded === attrs.cols ? scaled : scaled.slice(-1, 0, attrs.cols);
  },
  grad: () => [undefined, undefined],
} satisfies CompositeOpDef<QuantAttrs>);

/**
 * x [..., M, cols] @ Wᵀ for a quantized W [rows, cols] (a Linear's layout) → [..., M, rows]. The
 * reference is dequantize then matmul; backends run it as one kernel that dequantizes in registers,
 * so decoding streams the quantized bytes instead of float32 weights.
 */
export const QUANTIZED_MATMUL = defineOp({
  name: "quantizedMatmul",
  kind: "composite",
  doc: "x [..., M, cols] @ dequantize(codes, scale)ᵀ → [..., M, rows] (a quantized linear layer)",
  infer: (inputs: readonly TypeInfo[], attrs: QuantAttrs) => {
    expectArity(inputs, 3, "quantizedMatmul");
    const x = input(inputs, 0, "quantizedMatmul");
    const codes = input(inputs, 1, "quantizedMatmul");
    if (x.dtype !== "float32") throw new DTypeError(`quantizedMatmul: x must be float32, got ${x.dtype}`);
    if (codes.shape.length !== 2) throw new ShapeError(`quantizedMatmul: codes must be a [rows, bytes] matrix, got ${formatShape(codes.shape)}`);
    checkCodes(codes, input(inputs, 2, "quantizedMatmul"), attrs, "quantizedMatmul");
    if (x.shape.length < 2 || x.shape[x.shape.length - 1] !== attrs.cols) throw new ShapeError(`quantizedMatmul: x ${formatShape(x.shape)} must be [..., M, ${attrs.cols}]`);
    return { shape: [...x.shape.slice(0, -1), codes.shape[0]!], dtype: "float32" };
  },
  decompose: ([x, codes, scale], attrs: QuantAttrs) => matmul(x!, dequantize(codes!, scale!, attrs).transpose()),
  grad: ({ grad, inputs: [, codes, scale], attrs }) => [grad.matmul(dequantize(codes!, scale!, attrs)), undefined, undefined],
} satisfies CompositeOpDef<QuantAttrs>);

export function dequantize(codes: TensorLike, scale: TensorLike, attrs: QuantAttrs): SymTensor {
  const c = asSym(codes);
  return c.builder.emit(DEQUANTIZE, [c, asSym(scale)], { bits: attrs.bits, groupSize: attrs.groupSize, cols: attrs.cols });
}

export function quantizedMatmul(x: TensorLike, codes: TensorLike, scale: TensorLike, attrs: QuantAttrs): SymTensor {
  const s = asSym(x);
  return s.builder.emit(QUANTIZED_MATMUL, [s, asSym(codes), asSym(scale)], { bits: attrs.bits, groupSize: attrs.groupSize, cols: attrs.cols });
}
