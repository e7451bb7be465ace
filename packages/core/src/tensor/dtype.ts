import { DTypeError } from "../errors.js";

/**
 * Compute happens in float32 (and int32 for ids); float16 and bfloat16 exist as storage formats
 * so checkpoints and device buffers can be half the size, and int8/uint8 hold quantized weights
 * (see quant/). Conversions between floats are exact where the target can represent the value,
 * and round to nearest-even where it cannot.
 */
export type DType = "float32" | "float16" | "bfloat16" | "int32" | "int8" | "uint8";

export const DTYPES: readonly DType[] = ["float32", "float16", "bfloat16", "int32", "int8", "uint8"];

/** The typed array that stores each dtype. Half-precision formats are stored as raw bits. */
export interface StorageArrays {
  float32: Float32Array;
  float16: Uint16Array;
  bfloat16: Uint16Array;
  int32: Int32Array;
  int8: Int8Array;
  uint8: Uint8Array;
}
export type StorageOf<D extends DType> = StorageArrays[D];
export type AnyStorage = StorageArrays[DType];

export function isDType(value: unknown): value is DType {
  return typeof value === "string" && (DTYPES as readonly string[]).includes(value);
}

export function assertDType(value: unknown, what: string): DType {
  if (!isDType(value)) throw new DTypeError(`${what}: unknown dtype ${JSON.stringify(value)}; expected one of ${DTYPES.join(", ")}`);
  return value;
}

export function byteSize(dtype: DType): number {
  if (dtype === "float32" || dtype === "int32") return 4;
  return dtype === "int8" || dtype === "uint8" ? 1 : 2;
}

export function isFloat(dtype: DType): boolean {
  return dtype === "float32" || dtype === "float16" || dtype === "bfloat16";
}

export function allocate(dtype: DType, length: number): AnyStorage {
  switch (dtype) {
    case "float32":
      return new Float32Array(length);
    case "int32":
      return new Int32Array(length);
    case "int8":
      return new Int8Array(length);
    case "uint8":
      return new Uint8Array(length);
    case "float16":
    case "bfloat16":
      return new Uint16Array(length);
  }
}

// ---- float16 / bfloat16 <-> float32, bit-exact, round to nearest even ----

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function float32ToFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0); // inf / nan (quiet)
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow to inf
  if (e <= 0) {
    // Subnormal half (or zero): shift the implicit bit in and round to nearest even.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let h = mant >>> shift;
    if (rest > half || (rest === half && (h & 1))) h += 1;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h += 1; // may carry into the exponent: correct
  return sign | h;
}

export function float16BitsToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

export function float32ToBFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return ((x >>> 16) | 0x40) & 0xffff; // quiet nan
  const rounded = x + 0x7fff + ((x >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

export function bfloat16BitsToFloat32(bits: number): number {
  u32[0] = (bits & 0xffff) << 16;
  return f32[0]!;
}

/**
 * Converts storage of one dtype to another. Float to an integer type truncates toward zero, like a
 * C cast; int8/uint8 then wrap modulo 256 (quantizers round and clamp before they convert).
 */
export function convert(src: AnyStorage, from: DType, to: DType): AnyStorage {
  if (from === to) return src.slice();
  const n = src.length;
  const out = allocate(to, n);
  const read = reader(src, from);
  switch (to) {
    case "float32":
    case "int32":
    case "int8":
    case "uint8":
      for (let i = 0; i < n; i++) out[i] = read(i);
      break;
    case "float16":
      for (let i = 0; i < n; i++) out[i] = float32ToFloat16Bits(read(i));
      break;
    case "bfloat16":
      for (let i = 0; i < n; i++) out[i] = float32ToBFloat16Bits(read(i));
      break;
  }
  return out;
}

/** Returns a function reading element i of `src` as a JS number. */
export function reader(src: AnyStorage, dtype: DType): (i: number) => number {
  if (dtype === "float16") return (i) => float16BitsToFloat32(src[i]!);
  if (dtype === "bfloat16") return (i) => bfloat16BitsToFloat32(src[i]!);
  return (i) => src[i]!;
}
