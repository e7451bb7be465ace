/**
 * A WebAssembly SIMD (f32x4) micro-kernel for gemm, encoded from bytes here so the package needs
 * no WAT toolchain (see wasm.ts). It exports its memory and
 *
 *   micro(pa, pb, pc, kc, ldc)   // byte addresses; ldc = C's row stride in bytes
 *   matvecs(pa, pb, pc, batches, m, k)   // a batch of matrix-vector products (see matvecsBody)
 *
 * micro updates one MR x NR tile of C in place: C[i, j] += sum_p A[i, p] * B[p, j] for p < kc,
 * with A packed as kc rows of MR floats (one column of the tile per row) and B as kc rows of NR
 * floats.
 * The tile lives in MR * NR / 4 v128 locals for the whole k loop, so the loop body is NR / 4 vector
 * loads of B, MR splat loads of A and MR * NR / 4 multiply-adds (mul then add: baseline SIMD has no
 * fused multiply-add, which keeps results bit-identical on every engine). kc must be at least 1.
 */

import { F32, I32, lazyModule, op, V128, type ModuleMemory } from "./wasm.js";

export const MR = 4;
export const NR = 8;
const NV = NR / 4; // v128 vectors per tile row

function microBody(): number[] {
  // params 0..4: pa, pb, pc, kc, ldc; then i32 local 5 (row pointer), then v128 locals.
  const [pa, pb, pc, kc, ldc, row] = [0, 1, 2, 3, 4, 5];
  const acc = (i: number, v: number) => 6 + i * NV + v;
  const bv = (v: number) => 6 + MR * NV + v;
  const av = 6 + MR * NV + NV;
  const code: number[] = [];
  const emit = (...parts: number[][]) => { for (const p of parts) code.push(...p); };

  // Load the C tile: row pointer walks down by ldc.
  emit(op.get(pc), op.set(row));
  for (let i = 0; i < MR; i++) {
    if (i > 0) emit(op.get(row), op.get(ldc), op.i32Add, op.set(row));
    for (let v = 0; v < NV; v++) emit(op.get(row), op.v128Load(16 * v), op.set(acc(i, v)));
  }
  // do { ...; pa += 4 MR; pb += 4 NR } while (--kc)
  emit(op.loop);
  for (let v = 0; v < NV; v++) emit(op.get(pb), op.v128Load(16 * v), op.set(bv(v)));
  for (let i = 0; i < MR; i++) {
    emit(op.get(pa), op.load32Splat(4 * i), op.set(av));
    for (let v = 0; v < NV; v++) emit(op.get(acc(i, v)), op.get(av), op.get(bv(v)), op.f32x4Mul, op.f32x4Add, op.set(acc(i, v)));
  }
  emit(op.get(pa), op.i32Const(4 * MR), op.i32Add, op.set(pa));
  emit(op.get(pb), op.i32Const(4 * NR), op.i32Add, op.set(pb));
  emit(op.get(kc), op.i32Const(1), op.i32Sub, op.tee(kc), op.brIf(0), op.end);
  // Store the tile back.
  emit(op.get(pc), op.set(row));
  for (let i = 0; i < MR; i++) {
    if (i > 0) emit(op.get(row), op.get(ldc), op.i32Add, op.set(row));
    for (let v = 0; v < NV; v++) emit(op.get(row), op.get(acc(i, v)), op.v128Store(16 * v));
  }
  return code;
}

/**
 * matvecs(pa, pb, pc, batches, m, k): for each batch t, c_t[i] = Σ_p A_t[i, p] b_t[p] with A_t
 * [m, k] and b_t [k] packed one batch after another: a batch of matrix-vector products (Mamba's
 * read-out y = h C). Scalar float32, summing over p in ascending order with each product and
 * partial sum rounded to float32, so it gives gemm's bits; what it saves over JS is Math.fround.
 */
function matvecsBody(): number[] {
  const [pa, pb, pc, batches, m, k, i, p, sum] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const pRow = 9; // walks b_t along each row
  const code: number[][] = [];
  code.push(op.loop); // batches
  code.push(op.get(m), op.set(i));
  code.push(op.loop); // rows
  code.push(op.f32Const(0), op.set(sum), op.get(pb), op.set(pRow), op.get(k), op.set(p));
  code.push(op.loop); // p
  code.push(op.get(sum), op.get(pa), op.f32Load(), op.get(pRow), op.f32Load(), op.f32Mul, op.f32Add, op.set(sum));
  code.push(op.get(pa), op.i32Const(4), op.i32Add, op.set(pa), op.get(pRow), op.i32Const(4), op.i32Add, op.set(pRow));
  code.push(op.get(p), op.i32Const(1), op.i32Sub, op.tee(p), op.brIf(0), op.end);
  code.push(op.get(pc), op.get(sum), op.f32Store(), op.get(pc), op.i32Const(4), op.i32Add, op.set(pc));
  code.push(op.get(i), op.i32Const(1), op.i32Sub, op.tee(i), op.brIf(0), op.end);
  code.push(op.get(pRow), op.set(pb)); // the next batch's b follows this one's
  code.push(op.get(batches), op.i32Const(1), op.i32Sub, op.tee(batches), op.brIf(0), op.end);
  return code.flat();
}

export interface SimdKernel extends ModuleMemory {
  micro: (pa: number, pb: number, pc: number, kc: number, ldc: number) => void;
  matvecs: (pa: number, pb: number, pc: number, batches: number, m: number, k: number) => void;
}

/** The instantiated kernels, or null where WebAssembly SIMD is unavailable (then gemm stays in JS). */
export const simdKernel: () => SimdKernel | null = lazyModule<Omit<SimdKernel, keyof ModuleMemory>>(() => [
  { name: "micro", params: [I32, I32, I32, I32, I32], locals: [[1, I32], [MR * NV + NV + 1, V128]], body: microBody() },
  { name: "matvecs", params: [I32, I32, I32, I32, I32, I32], locals: [[2, I32], [1, F32], [1, I32]], body: matvecsBody() },
]);
