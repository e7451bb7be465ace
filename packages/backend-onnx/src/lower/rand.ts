import type { OnnxGraphBuilder } from "../onnx/builder.js";
import { attr, ELEM_TYPE } from "../onnx/model.js";

/**
 * core's `hashUniform(seed, index)` (lowbias32 of index ^ seed * golden ratio, top 24 bits) in
 * uint32 ONNX arithmetic: Mul on uint32 wraps mod 2^32 exactly like Math.imul, BitShift and
 * BitwiseXor (opset 18) are the shifts and xors, so the noise is bit-identical to every backend.
 */
export function lowerRand(g: OnnxGraphBuilder, seed: string, shape: readonly number[], name: string): string {
  const count = shape.reduce((n, d) => n * d, 1);
  const u32 = (v: number) => g.scalar("uint32", v);
  const shr = (x: string, bits: number) => g.op("BitShift", [x, u32(bits)], { direction: attr.string("RIGHT") });
  const xor = (x: string, y: string) => g.op("BitwiseXor", [x, y]);
  const mul = (x: string, c: number) => g.op("Mul", [x, u32(c)]);

  const index = g.op("Cast", [g.op("Range", [g.scalar("int32", 0), g.scalar("int32", count), g.scalar("int32", 1)])], { to: attr.int(ELEM_TYPE.uint32) });
  const seedMix = mul(g.op("Cast", [seed], { to: attr.int(ELEM_TYPE.uint32) }), 0x9e3779b9);
  let x = xor(index, seedMix);
  x = xor(x, shr(x, 16));
  x = mul(x, 0x7feb352d);
  x = xor(x, shr(x, 15));
  x = mul(x, 0x846ca68b);
  x = xor(x, shr(x, 16));
  const top24 = g.op("Cast", [shr(x, 8)], { to: attr.int(ELEM_TYPE.float32) });
  const uniform = g.op("Mul", [top24, g.scalar("float32", 1 / 16777216)]);
  return g.op("Reshape", [uniform, g.int64s(shape)], undefined, { name });
}
