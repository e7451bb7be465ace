import { F32, I32, op, V128, wasmModule, type WasmFunction } from "./wasm.js";

/**
 * WebAssembly SIMD kernels for quantized matrix products y = x Wᵀ (see core's quant/format.ts for
 * the weight layouts). The weights stay in their quantized bytes: each 16-byte load is widened to
 * 16-bit lanes in registers and multiplied with the activations by `i32x4.dot_i16x8_s`, the exact
 * integer dot product, so a decode step streams 1 byte (int8) or half a byte (4-bit) per weight.
 *
 * Activations enter as 16-bit integers with one float scale per block of columns (the host
 * rounds them: error at most 2^-16 of the block's largest |x|); integer sums are exact and are
 * turned into float32 once per block, times the block's activation scale and weight scale.
 *
 * Every function computes R = 1 or 4 rows of x against n weight rows. The host lays the
 * activations out per block as R rows side by side, so every address offset is a constant:
 *
 *   q8_R(px, psx, pw, ps, py, n, blocks)
 *     int8: blocks of 128 columns. x: per block, R rows of 128 i16; psx: per block, R f32 scales;
 *     w: n rows of blocks * 128 int8 (zero-padded); ps: n f32 (one per row); y: n x R f32.
 *   q4g{G}_R(px, psx, pw, ps, py, n, groups)
 *     4-bit, groups of G = 32, 64 or 128 columns. Per group and per 32-column chunk of it, each x
 *     row as 16 even then 16 odd columns (i16; the low nibbles hold the even columns); psx: per
 *     group, R f32 scales; w: n rows of groups * G / 2 bytes; ps: n x groups f32; y: n x R f32.
 */

export const Q8_BLOCK = 128;
export const Q4_GROUPS: readonly number[] = [32, 64, 128];
export const ROWS: readonly number[] = [1, 4];

/** Local-variable numbering for one function: parameters first, then i32, f32 and v128 locals. */
class Locals {
  private readonly counts = { i32: 0, f32: 0, v128: 0 };
  private readonly order: ["i32" | "f32" | "v128", number][] = [];

  constructor(private readonly params: number) {}

  private add(kind: "i32" | "f32" | "v128"): number {
    this.order.push([kind, this.counts[kind]++]);
    return -this.order.length; // resolved by `index` once every local is known
  }

  i32 = () => this.add("i32");
  f32 = () => this.add("f32");
  v128 = () => this.add("v128");

  /** Final index of a local handle (locals are declared grouped by type: i32, f32, v128). */
  index(handle: number): number {
    if (handle >= 0) return handle;
    const [kind, n] = this.order[-handle - 1]!;
    return this.params + (kind === "i32" ? n : kind === "f32" ? this.counts.i32 + n : this.counts.i32 + this.counts.f32 + n);
  }

  declarations(): [number, number][] {
    return [[this.counts.i32, I32], [this.counts.f32, F32], [this.counts.v128, V128]].filter(([c]) => c! > 0) as [number, number][];
  }
}

interface Emitter {
  get(local: number): number[];
  set(local: number): number[];
  tee(local: number): number[];
}

/** Builds a function body with symbolic locals (negative handles from `Locals`). */
function body(locals: Locals, emit: (e: Emitter) => number[][]): number[] {
  const code = emit({ get: (l) => op.get(locals.index(l)), set: (l) => op.set(locals.index(l)), tee: (l) => op.tee(locals.index(l)) });
  return code.flat();
}

const PARAMS = 7; // px, psx, pw, ps, py, n, count (blocks or groups)
const [PX, PSX, PW, PS, PY, N, COUNT] = [0, 1, 2, 3, 4, 5, 6];

/** y[j * R + r] = hsum(acc[r]) * (scale or 1), then py += 4R: the end of one weight row. */
function storeRow(e: Emitter, acc: readonly number[], rows: number, rowScale: number[][] | undefined): number[][] {
  const code: number[][] = [];
  for (let r = 0; r < rows; r++) {
    code.push(e.get(PY));
    for (let lane = 0; lane < 4; lane++) code.push(e.get(acc[r]!), op.f32x4ExtractLane(lane), ...(lane > 0 ? [op.f32Add] : []));
    if (rowScale) code.push(...rowScale, op.f32Mul);
    code.push(op.f32Store(4 * r));
  }
  code.push(e.get(PY), op.i32Const(4 * rows), op.i32Add, e.set(PY));
  return code;
}

function q8(rows: number): WasmFunction {
  const L = new Locals(PARAMS);
  const [x, sx, b] = [L.i32(), L.i32(), L.i32()];
  const accF = Array.from({ length: rows }, () => L.v128());
  const accI = Array.from({ length: rows }, () => L.v128());
  const [wa, wb] = [L.v128(), L.v128()];
  const zero = op.v128Const(new Array<number>(16).fill(0));
  const code = body(L, (e) => {
    const c: number[][] = [];
    c.push(op.block, op.loop); // for each weight row: while (n--)
    c.push(e.get(N), op.i32Eqz, op.brIf(1));
    for (const a of accF) c.push(zero, e.set(a));
    c.push(e.get(PX), e.set(x), e.get(PSX), e.set(sx), e.get(COUNT), e.set(b));
    c.push(op.loop); // for each block of 128 columns
    for (const a of accI) c.push(zero, e.set(a));
    for (let chunk = 0; chunk < Q8_BLOCK / 16; chunk++) {
      c.push(e.get(PW), op.v128Load8x8S(16 * chunk), e.set(wa), e.get(PW), op.v128Load8x8S(16 * chunk + 8), e.set(wb));
      for (let r = 0; r < rows; r++) {
        const at = 2 * (Q8_BLOCK * r + 16 * chunk);
        c.push(e.get(accI[r]!), e.get(wa), e.get(x), op.v128Load(at), op.i32x4DotI16x8S, op.i32x4Add);
        c.push(e.get(wb), e.get(x), op.v128Load(at + 16), op.i32x4DotI16x8S, op.i32x4Add, e.set(accI[r]!));
      }
    }
    for (let r = 0; r < rows; r++) c.push(e.get(accF[r]!), e.get(accI[r]!), op.f32x4ConvertI32x4S, e.get(sx), op.load32Splat(4 * r), op.f32x4Mul, op.f32x4Add, e.set(accF[r]!));
    c.push(e.get(PW), op.i32Const(Q8_BLOCK), op.i32Add, e.set(PW));
    c.push(e.get(x), op.i32Const(2 * Q8_BLOCK * rows), op.i32Add, e.set(x));
    c.push(e.get(sx), op.i32Const(4 * rows), op.i32Add, e.set(sx));
    c.push(e.get(b), op.i32Const(1), op.i32Sub, e.tee(b), op.brIf(0), op.end);
    c.push(...storeRow(e, accF, rows, [e.get(PS), op.f32Load(0)]));
    c.push(e.get(PS), op.i32Const(4), op.i32Add, e.set(PS));
    c.push(e.get(N), op.i32Const(1), op.i32Sub, e.set(N), op.br(0), op.end, op.end);
    return c;
  });
  return { name: `q8_${rows}`, params: new Array<number>(PARAMS).fill(I32), locals: L.declarations(), body: code };
}

function q4(group: number, rows: number): WasmFunction {
  const L = new Locals(PARAMS);
  const [x, sx, g] = [L.i32(), L.i32(), L.i32()];
  const scale = L.f32();
  const accF = Array.from({ length: rows }, () => L.v128());
  const accI = Array.from({ length: rows }, () => L.v128());
  const [bytes, lo, hi, mask, eight] = [L.v128(), L.v128(), L.v128(), L.v128(), L.v128()];
  const halves = [L.v128(), L.v128(), L.v128(), L.v128()]; // even columns 0-7, 8-15, odd 0-7, 8-15 of a chunk
  const zero = op.v128Const(new Array<number>(16).fill(0));
  const code = body(L, (e) => {
    const c: number[][] = [op.i32Const(15), op.i8x16Splat, e.set(mask), op.i32Const(8), op.i8x16Splat, e.set(eight)];
    c.push(op.block, op.loop);
    c.push(e.get(N), op.i32Eqz, op.brIf(1));
    for (const a of accF) c.push(zero, e.set(a));
    c.push(e.get(PX), e.set(x), e.get(PSX), e.set(sx), e.get(COUNT), e.set(g));
    c.push(op.loop); // for each group
    for (const a of accI) c.push(zero, e.set(a));
    for (let chunk = 0; chunk < group / 32; chunk++) {
      c.push(e.get(PW), op.v128Load(16 * chunk), e.set(bytes));
      c.push(e.get(bytes), e.get(mask), op.v128And, e.get(eight), op.i8x16Sub, e.set(lo));
      c.push(e.get(bytes), op.i32Const(4), op.i8x16ShrU, e.get(eight), op.i8x16Sub, e.set(hi));
      c.push(e.get(lo), op.i16x8ExtendLowI8x16S, e.set(halves[0]!), e.get(lo), op.i16x8ExtendHighI8x16S, e.set(halves[1]!));
      c.push(e.get(hi), op.i16x8ExtendLowI8x16S, e.set(halves[2]!), e.get(hi), op.i16x8ExtendHighI8x16S, e.set(halves[3]!));
      for (let r = 0; r < rows; r++) {
        const at = 64 * (rows * chunk + r);
        c.push(e.get(accI[r]!));
        for (let h = 0; h < 4; h++) c.push(e.get(halves[h]!), e.get(x), op.v128Load(at + 16 * h), op.i32x4DotI16x8S, op.i32x4Add);
        c.push(e.set(accI[r]!));
      }
    }
    c.push(e.get(PS), op.f32Load(0), e.set(scale));
    for (let r = 0; r < rows; r++) {
      c.push(e.get(accF[r]!), e.get(accI[r]!), op.f32x4ConvertI32x4S, e.get(scale), e.get(sx), op.f32Load(4 * r), op.f32Mul, op.f32x4Splat, op.f32x4Mul, op.f32x4Add, e.set(accF[r]!));
    }
    c.push(e.get(PW), op.i32Const(group / 2), op.i32Add, e.set(PW));
    c.push(e.get(PS), op.i32Const(4), op.i32Add, e.set(PS));
    c.push(e.get(x), op.i32Const(group * 2 * rows), op.i32Add, e.set(x));
    c.push(e.get(sx), op.i32Const(4 * rows), op.i32Add, e.set(sx));
    c.push(e.get(g), op.i32Const(1), op.i32Sub, e.tee(g), op.brIf(0), op.end);
    c.push(...storeRow(e, accF, rows, undefined));
    c.push(e.get(N), op.i32Const(1), op.i32Sub, e.set(N), op.br(0), op.end, op.end);
    return c;
  });
  return { name: `q4g${group}_${rows}`, params: new Array<number>(PARAMS).fill(I32), locals: L.declarations(), body: code };
}

export type QuantKernel = (px: number, psx: number, pw: number, ps: number, py: number, n: number, count: number) => void;

let compiled: WebAssembly.Module | null | undefined;

/** The compiled module (its memory is imported, so each weight gets its own), or null without SIMD. */
export function quantModule(): WebAssembly.Module | null {
  if (compiled !== undefined) return compiled;
  try {
    const functions = [...ROWS.map(q8), ...Q4_GROUPS.flatMap((g) => ROWS.map((r) => q4(g, r)))];
    compiled = new WebAssembly.Module(wasmModule(functions, "import"));
  } catch {
    compiled = null;
  }
  return compiled;
}
