import type { MmaShape } from "../lang/ir.js";

// The tensor cores' mma.sync for the interpreter, written from the PTX ISA's fragment tables
// ("Matrix Fragments for mma.m16n8k16 with floating point type" and "for mma.m16n8k8" with
// .tf32): lane l holds, with groupID g = l >> 2 and threadID_in_group t = l & 3,
//   m16n8k16.bf16  A[16][16] in four words of bf16 pairs (low half first):
//                    a0 = (g, 2t..2t+1), a1 = (g+8, 2t..), a2 = (g, 2t+8..), a3 = (g+8, 2t+8..)
//                  B[16][8] in two words: b0 = (k 2t..2t+1, n g), b1 = (k 2t+8..2t+9, n g)
//   m16n8k8.tf32   A[16][8]: a0 = (g, t), a1 = (g+8, t), a2 = (g, t+4), a3 = (g+8, t+4)
//                  B[8][8]:  b0 = (k t, n g), b1 = (k t+4, n g)
//   D = C [16][8] f32: c0 = (g, 2t), c1 = (g, 2t+1), c2 = (g+8, 2t), c3 = (g+8, 2t+1).
// Products of bf16 or tf32 values are exact in a double; the sums are too, here, and D is rounded
// once to f32 (a GPU's accumulation order and width differ in the last bits).

/** One lane's registers at an mma: A and B words, the C values. */
export type MmaLane = readonly [a: readonly number[], b: readonly number[], c: readonly number[]];

const word = new Uint32Array(1);
const real = new Float32Array(word.buffer);

/** The value of bf16 bits. */
const bf16 = (bits: number): number => {
  word[0] = (bits & 0xffff) << 16;
  return real[0]!;
};

/** The value of TF32 bits (an f32 with its low 13 mantissa bits ignored). */
const tf32 = (bits: number): number => {
  word[0] = bits & 0xffffe000;
  return real[0]!;
};

/** The warp's D fragments (four f32 per lane) from its 32 lanes' registers. */
export function emulateMma(shape: MmaShape, lanes: readonly MmaLane[]): number[][] {
  const k = shape === "m16n8k16.bf16" ? 16 : 8;
  const A = Array.from({ length: 16 }, () => new Float64Array(k));
  const B = Array.from({ length: k }, () => new Float64Array(8));
  lanes.forEach(([a, b], l) => {
    const g = l >> 2;
    const t = l & 3;
    if (shape === "m16n8k16.bf16") {
      const pair = (w: number, row: number, col: number) => {
        A[row]![col] = bf16(w);
        A[row]![col + 1] = bf16(w >>> 16);
      };
      pair(a[0]!, g, 2 * t);
      pair(a[1]!, g + 8, 2 * t);
      pair(a[2]!, g, 2 * t + 8);
      pair(a[3]!, g + 8, 2 * t + 8);
      B[2 * t]![g] = bf16(b[0]!);
      B[2 * t + 1]![g] = bf16(b[0]! >>> 16);
      B[2 * t + 8]![g] = bf16(b[1]!);
      B[2 * t + 9]![g] = bf16(b[1]! >>> 16);
    } else {
      A[g]![t] = tf32(a[0]!);
      A[g + 8]![t] = tf32(a[1]!);
      A[g]![t + 4] = tf32(a[2]!);
      A[g + 8]![t + 4] = tf32(a[3]!);
      B[t]![g] = tf32(b[0]!);
      B[t + 4]![g] = tf32(b[1]!);
    }
  });
  const d = (row: number, col: number, c: number) => {
    let s = c;
    for (let i = 0; i < k; i++) s += A[row]![i]! * B[i]![col]!;
    return Math.fround(s);
  };
  return lanes.map(([, , c], l) => {
    const g = l >> 2;
    const t = l & 3;
    return [d(g, 2 * t, c[0]!), d(g, 2 * t + 1, c[1]!), d(g + 8, 2 * t, c[2]!), d(g + 8, 2 * t + 1, c[3]!)];
  });
}

/** f32 -> bf16 bits, round to nearest even (NaN stays a quiet NaN): cvt.rn.bf16.f32. */
export function floatToBf16(x: number): number {
  real[0] = x;
  const bits = word[0]!;
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 0x40) & 0xffff;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** f32 -> TF32 bits, round to nearest with ties away from zero: cvt.rna.tf32.f32. */
export function floatToTf32(x: number): number {
  real[0] = x;
  const bits = word[0]!;
  if ((bits & 0x7f800000) === 0x7f800000) return bits; // infinities and NaNs pass through
  return ((bits + 0x1000) & 0xffffe000) >>> 0;
}
