/**
 * WebAssembly SIMD (f32x4) kernels built around one float32 exp, encoded from bytes here (see
 * wasm.ts). In JS the cost of these ops is Math.exp; here four lanes share one polynomial. The
 * module exports its memory and
 *
 *   scan(pDelta, pA, pB, pX, pH0, pOut, batch, len, e, n4)   // mamba.selectiveScan; N = 4 n4
 *   exp(p, count4)                                           // in place over 4 count4 floats
 *
 * scan writes h [B, T, E, N] for delta [B, T, E], A [E, N], B [B, T, N], x [B, T, E] and h0
 * [B, E, N] (zeros for a scan from the start), every count at least 1. Each token's states are
 * read from the previous token's output (or h0), so the output is written strictly in order. exp
 * serves the pointwise composites (sigmoid, silu, softplus).
 *
 * The exp is Cephes' expf: e^x = 2^k e^r with k = round(x log2 e) and |r| ≤ ln 2 / 2, e^r by a
 * degree-6 polynomial, within 2 ulps of float32. Arguments are clamped to [−87.34, 88.38] so 2^k
 * stays a normal float: below, e^x is reported as 1.2e-38 instead of a subnormal or 0 (a decay
 * that small has long since erased its state either way); NaN stays NaN. Results differ from
 * Math.exp rounded to float32 by an ulp or two; the conformance suite holds both to the same
 * float64 reference.
 */

import { I32, lazyModule, op, V128, type ModuleMemory } from "./wasm.js";

const LOG2E = 1.4426950408889634;
// ln 2 split in two (Cephes): C1 has few significant bits, so k C1 is exact for |k| ≤ 128.
const C1 = 0.693359375;
const C2 = -2.12194440e-4;
const POLY = [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1];
const LO = -87.33654475; // ln(2^-126)
const HI = 88.37626266; // 127.5 ln 2: k ≤ 127

/** Replaces the v128 in local `x` by e^x, using locals `k` and `r` (all v128). */
function exp4(x: number, k: number, r: number): number[][] {
  const code: number[][] = [];
  code.push(op.get(x), op.f32x4Const(LO), op.f32x4Max, op.f32x4Const(HI), op.f32x4Min, op.set(x));
  code.push(op.get(x), op.f32x4Const(LOG2E), op.f32x4Mul, op.f32x4Nearest, op.set(k));
  code.push(op.get(x), op.get(k), op.f32x4Const(C1), op.f32x4Mul, op.f32x4Sub, op.get(k), op.f32x4Const(C2), op.f32x4Mul, op.f32x4Sub, op.set(r));
  // y = (((((p0 r + p1) r + p2) r + p3) r + p4) r + p5) r² + r + 1
  code.push(op.f32x4Const(POLY[0]!));
  for (const c of POLY.slice(1)) code.push(op.get(r), op.f32x4Mul, op.f32x4Const(c), op.f32x4Add);
  code.push(op.get(r), op.get(r), op.f32x4Mul, op.f32x4Mul, op.get(r), op.f32x4Add, op.f32x4Const(1), op.f32x4Add);
  // × 2^k, built from k's bits: (k + 127) << 23.
  code.push(op.get(k), op.i32x4TruncSatF32x4S, op.i32x4Const(127), op.i32x4Add, op.i32Const(23), op.i32x4Shl, op.f32x4Mul, op.set(x));
  return code;
}

function scanBody(): number[] {
  const [pDelta, pA, pB, pX, pH0, pOut, batch, len, e, n4] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  // i32 locals
  const [t, c, s, pa, pPrev, pBTok, pBt, dx, rowBytes, nBytes] = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19];
  // v128 locals
  const [vd, vdx, x, k, r] = [20, 21, 22, 23, 24];
  const code: number[][] = [];
  code.push(op.get(n4), op.i32Const(16), op.i32Mul, op.set(nBytes));
  code.push(op.get(e), op.get(nBytes), op.i32Mul, op.set(rowBytes));
  code.push(op.get(pB), op.set(pBTok));
  code.push(op.i32Const(0), op.set(dx));
  code.push(op.loop); // over rows b (counting `batch` down)
  code.push(op.i32Const(0), op.set(t));
  code.push(op.loop); // over tokens t
  code.push(op.get(pA), op.set(pa), op.get(e), op.set(c));
  code.push(op.loop); // over channels c
  code.push(op.get(pDelta), op.get(dx), op.i32Add, op.f32Load(), op.f32x4Splat, op.set(vd));
  code.push(op.get(pDelta), op.get(dx), op.i32Add, op.f32Load(), op.get(pX), op.get(dx), op.i32Add, op.f32Load(), op.f32Mul, op.f32x4Splat, op.set(vdx));
  // The states this token continues: h0's row at the first token, else the previous token's.
  code.push(op.get(pH0), op.get(pOut), op.get(rowBytes), op.i32Sub, op.get(t), op.i32Eqz, op.select, op.set(pPrev));
  code.push(op.get(pBTok), op.set(pBt), op.get(n4), op.set(s));
  code.push(op.loop); // over groups of four states
  code.push(op.get(vd), op.get(pa), op.v128Load(), op.f32x4Mul, op.set(x));
  code.push(...exp4(x, k, r));
  code.push(op.get(pOut), op.get(x), op.get(pPrev), op.v128Load(), op.f32x4Mul, op.get(vdx), op.get(pBt), op.v128Load(), op.f32x4Mul, op.f32x4Add, op.v128Store());
  for (const p of [pa, pBt, pPrev, pOut]) code.push(op.get(p), op.i32Const(16), op.i32Add, op.set(p));
  code.push(op.get(s), op.i32Const(1), op.i32Sub, op.tee(s), op.brIf(0), op.end);
  // h0 is read only at the first token; its rows follow (b, c) in the order visited there.
  code.push(op.get(pH0), op.get(nBytes), op.i32Add, op.get(pH0), op.get(t), op.i32Eqz, op.select, op.set(pH0));
  code.push(op.get(dx), op.i32Const(4), op.i32Add, op.set(dx));
  code.push(op.get(c), op.i32Const(1), op.i32Sub, op.tee(c), op.brIf(0), op.end);
  code.push(op.get(pBTok), op.get(nBytes), op.i32Add, op.set(pBTok));
  code.push(op.get(t), op.i32Const(1), op.i32Add, op.tee(t), op.get(len), op.i32Ne, op.brIf(0), op.end);
  code.push(op.get(batch), op.i32Const(1), op.i32Sub, op.tee(batch), op.brIf(0), op.end);
  return code.flat();
}

function expBody(): number[] {
  const [p, count4, x, k, r] = [0, 1, 2, 3, 4];
  const code: number[][] = [op.loop, op.get(p), op.v128Load(), op.set(x), ...exp4(x, k, r), op.get(p), op.get(x), op.v128Store()];
  code.push(op.get(p), op.i32Const(16), op.i32Add, op.set(p));
  code.push(op.get(count4), op.i32Const(1), op.i32Sub, op.tee(count4), op.brIf(0), op.end);
  return code.flat();
}

export interface ExpSimd extends ModuleMemory {
  scan: (pDelta: number, pA: number, pB: number, pX: number, pH0: number, pOut: number, batch: number, len: number, e: number, n4: number) => void;
  exp: (p: number, count4: number) => void;
}

/** The instantiated kernels, or null where WebAssembly SIMD is unavailable (the kernels then stay in JS). */
export const expSimd: () => ExpSimd | null = lazyModule<Omit<ExpSimd, keyof ModuleMemory>>(() => [
  { name: "scan", params: Array(10).fill(I32), locals: [[10, I32], [5, V128]], body: scanBody() },
  { name: "exp", params: [I32, I32], locals: [[3, V128]], body: expBody() },
]);
