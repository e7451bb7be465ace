import type { KernelBuilder, Memory } from "../lang/builder.js";
import { u32, type Val } from "../lang/values.js";

// Reading quantized codes (core's quant/format.ts) in kernels. int8 and uint8 tensors live on the
// device as raw bytes packed four to a u32 word (WGSL has no 8-bit storage); codes that reached a
// kernel through an op with no byte kernel (a slice, say) arrive widened to one i32 per byte.

/** How a kernel reads codes: the format and whether they are packed bytes or widened words. */
export type CodeFormat = {
  readonly bits: 8 | 4;
  readonly groupSize: number;
  readonly bytes: boolean;
};

/** Byte `b` (0..255) of raw-byte storage. */
export function byteAt(codes: Memory<"u32">, b: Val<"u32">): Val<"u32"> {
  return codes.at(b.shr(2)).shr(b.and(3).mul(8)).and(255);
}

/** A byte read as int8: shifted to the top of the word, then back with the sign. */
export const signed = (byte: Val<"u32">): Val<"i32"> => byte.shl(24).bitcast("i32").shr(24);

/**
 * `code - zeroPoint` of column `col` of a row starting at byte `rowStart`, in float32 (exact: at
 * most 8 bits). int8: one byte per column; 4-bit: the even column in the low nibble, minus 8.
 */
function codeValue(codes: Memory<"u32"> | Memory<"i32">, f: CodeFormat, rowStart: Val<"u32">, col: Val<"u32">): Val<"f32"> {
  if (f.bits === 8) {
    const b = rowStart.add(col);
    return (f.bytes ? signed(byteAt(codes as Memory<"u32">, b)) : (codes as Memory<"i32">).at(b)).f32();
  }
  const b = rowStart.add(col.shr(1));
  const byte = f.bytes ? byteAt(codes as Memory<"u32">, b) : (codes as Memory<"i32">).at(b).u32();
  return byte.shr(col.and(1).mul(4)).and(15).i32().sub(8).f32();
}

/**
 * The dequantized weight W[row, col] = (code - zeroPoint) * scale of its group, rounded once to
 * float32 exactly as the reference decomposition computes it. `cols` may be a kernel parameter, so
 * one compiled tiled kernel serves every shape.
 */
export function quantWeight(codes: Memory<"u32"> | Memory<"i32">, scale: Memory<"f32">, f: CodeFormat, cols: Val<"u32"> | number) {
  const c = typeof cols === "number" ? u32(cols) : cols;
  const groups = f.bits === 8 ? u32(1) : c.add(f.groupSize - 1).div(f.groupSize);
  const rowBytes = f.bits === 8 ? c : groups.mul(f.groupSize / 2);
  return (row: Val<"u32">, col: Val<"u32">): Val<"f32"> => {
    const g = f.bits === 8 ? row : row.mul(groups).add(col.div(f.groupSize));
    return codeValue(codes, f, row.mul(rowBytes), col).mul(scale.at(g));
  };
}

/** The codes' storage binding: raw bytes in u32 words, or widened to one i32 per byte. */
export function codeInput(k: KernelBuilder, bytes: boolean): Memory<"u32"> | Memory<"i32"> {
  return bytes ? k.input("codes", "u32") : k.input("codes", "i32");
}
