import { quantizedLayout, type Node, type QuantAttrs, type Tensor } from "@densessm/core";
import { bytesOf, type OnnxGraphBuilder } from "../onnx/builder.js";
import { attr, ELEM_TYPE } from "../onnx/model.js";
import type { LowerContext, LowerRule } from "./context.js";

// The quantized ops. When the weights are known while lowering (the backend bakes them in at the
// first run, an export bakes every parameter), a quantized linear layer becomes onnxruntime's
// MatMulNBits, which prepacks the weights once:
//  - 4-bit: our codes are its B layout byte for byte ([N, blocks, blockSize / 2], zero point 8),
//    our scales its scales.
//  - int8: 8-bit blocks of 128 columns sharing the row's scale, codes + 128 (its zero point).
// accuracy_level 4 lets it round the activations to int8 per block and multiply in integers:
// measured 4x faster than its float accumulation for 4 bits (and 30x for 8 bits) on the bench
// machine, with outputs within about 1e-3 of sum |x w|. DynamicQuantizeMatMul, the other int8
// candidate, measured slightly faster but saturates on AVX2 (u8 x s8 pairs in int16): 4-7 % errors.
// Weights fed as inputs (nothing to prepack) take the exact path: dequantize in the graph, MatMul.

/** Blocks of 4-bit codes rounded by onnxruntime in int8 (see accuracy_level in MatMulNBits). */
const MATMUL_NBITS_ACCURACY = 4;

const attrsOf = (ctx: LowerContext): QuantAttrs => ctx.node.attrs as unknown as QuantAttrs;

/** codes [..., rows, bytes] and scale [..., rows, groups] → float32 [..., rows, cols], exactly. */
function dequantizeInGraph(g: OnnxGraphBuilder, codes: string, scale: string, lead: readonly number[], a: QuantAttrs, name?: string): string {
  const { groups } = quantizedLayout(a, 1, a.cols);
  const padded = groups * a.groupSize;
  let values: string;
  if (a.bits === 8) values = g.op("Cast", [codes], { to: attr.int(ELEM_TYPE.float32) });
  else {
    // Low nibble = even column, high nibble = odd column: interleave [..., bytes, 2] → [..., padded].
    const low = g.op("BitwiseAnd", [codes, g.scalar("uint8", 15)]);
    const high = g.op("BitShift", [codes, g.scalar("uint8", 4)], { direction: attr.string("RIGHT") });
    const pairs = g.op("Concat", [g.op("Unsqueeze", [low, g.int64s([-1])]), g.op("Unsqueeze", [high, g.int64s([-1])])], { axis: attr.int(-1) });
    const unsigned = g.op("Cast", [g.op("Reshape", [pairs, g.int64s([...lead, padded])])], { to: attr.int(ELEM_TYPE.float32) });
    values = g.op("Sub", [unsigned, g.scalar("float32", 8)]);
  }
  const grouped = g.op("Reshape", [values, g.int64s([...lead, groups, a.groupSize])]);
  const scaled = g.op("Mul", [grouped, g.op("Unsqueeze", [scale, g.int64s([-1])])]);
  if (padded === a.cols) return g.op("Reshape", [scaled, g.int64s([...lead, padded])], undefined, { name });
  const flat = g.op("Reshape", [scaled, g.int64s([...lead, padded])]);
  return g.op("Slice", [flat, g.int64s([0]), g.int64s([a.cols]), g.int64s([-1])], undefined, { name });
}

const INT8_BLOCK = 128;

/** int8 codes [N, K] as MatMulNBits' 8-bit blocks: code + 128 (its default zero point), padded with 128. */
function unsignedBlocks(codes: Tensor, blocks: number): Uint8Array {
  const [n, k] = codes.shape as [number, number];
  const src = codes.data as Int8Array;
  const out = new Uint8Array(n * blocks * INT8_BLOCK).fill(128);
  for (let j = 0; j < n; j++) for (let p = 0; p < k; p++) out[j * blocks * INT8_BLOCK + p] = src[j * k + p]! + 128;
  return out;
}

function nbitsAttrs(bits: number, blockSize: number, k: number, n: number) {
  return { K: attr.int(k), N: attr.int(n), bits: attr.int(bits), block_size: attr.int(blockSize), accuracy_level: attr.int(MATMUL_NBITS_ACCURACY) };
}

const quantizedMatmul: LowerRule = (ctx) => {
  const { g, inputs, inputNodes, name } = ctx;
  const a = attrsOf(ctx);
  const [n, rowBytes] = inputNodes[1]!.shape as [number, number];
  const codes = ctx.value(1);
  const scale = ctx.value(2);
  if (codes && scale) {
    // Initializer names derive from the parameter's, so exported models share their external data.
    const base = inputNodes[1]!.op === "param" ? String(inputNodes[1]!.attrs.name) : g.fresh("codes").slice(1);
    if (a.bits === 4) {
      const { groups } = quantizedLayout(a, n, a.cols);
      const b = g.rawConstant("uint8", [n, groups, rowBytes / groups], bytesOf(codes.data), `${base}.matmul_nbits`);
      const s = g.rawConstant("float32", [n * groups], bytesOf(scale.toFloat32()), `${base}.matmul_nbits_scales`);
      return g.op("MatMulNBits", [inputs[0]!, b, s], nbitsAttrs(4, a.groupSize, a.cols, n), { name, domain: "com.microsoft" });
    }
    // int8: MatMulNBits with 8 bits, blocks of 128 sharing the row's scale, codes + 128.
    const blocks = Math.ceil(a.cols / INT8_BLOCK);
    const b = g.rawConstant("uint8", [n, blocks, INT8_BLOCK], unsignedBlocks(codes, blocks), `${base}.matmul_nbits`);
    const rowScales = scale.toFloat32();
    const perBlock = new Float32Array(n * blocks);
    for (let j = 0; j < n; j++) perBlock.fill(rowScales[j]!, j * blocks, (j + 1) * blocks);
    const s = g.rawConstant("float32", [n * blocks], bytesOf(perBlock), `${base}.matmul_nbits_scales`);
    return g.op("MatMulNBits", [inputs[0]!, b, s], nbitsAttrs(8, INT8_BLOCK, a.cols, n), { name, domain: "com.microsoft" });
  }
  const weight = dequantizeInGraph(g, inputs[1]!, inputs[2]!, [n], a);
  return g.op("MatMul", [inputs[0]!, g.op("Transpose", [weight], { perm: attr.ints([1, 0]) })], undefined, { name });
};

export const QUANT_RULES: Readonly<Record<string, LowerRule>> = {
  dequantize: (ctx) => dequantizeInGraph(ctx.g, ctx.inputs[0]!, ctx.inputs[1]!, ctx.inputNodes[0]!.shape.slice(0, -1), attrsOf(ctx), ctx.name),
  quantizedMatmul,
};

/** Parameters whose values a graph's quantized products would bake in (codes and scales). */
export function bakeableParameters(nodes: readonly Node[]): string[] {
  const names = new Set<string>();
  for (const node of nodes) {
    if (node.op !== "quantizedMatmul") continue;
    const [codes, scale] = [nodes[node.inputs[1]!]!, nodes[node.inputs[2]!]!];
    if (codes.op === "param" && scale.op === "param") names.add(String(codes.attrs.name)).add(String(scale.attrs.name));
  }
  return [...names];
}
