/**
 * A WebAssembly SIMD (f32x4) micro-kernel for gemm, encoded from bytes here so the package needs
 * no WAT toolchain. It exports one function and its memory:
 *
 *   micro(pa, pb, pc, kc, ldc)   // byte addresses; ldc = C's row stride in bytes
 *
 * which updates one MR x NR tile of C in place: C[i, j] += sum_p A[i, p] * B[p, j] for p < kc, with A
 * packed as kc rows of MR floats (one column of the tile per row) and B as kc rows of NR floats.
 * The tile lives in MR * NR / 4 v128 locals for the whole k loop, so the loop body is NR / 4 vector
 * loads of B, MR splat loads of A and MR * NR / 4 multiply-adds (mul then add: baseline SIMD has no
 * fused multiply-add, which keeps results bit-identical on every engine). kc must be at least 1.
 */

export const MR = 4;
export const NR = 8;
const NV = NR / 4; // v128 vectors per tile row

// --- a very small assembler -------------------------------------------------------------------

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    const done = (n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

const str = (s: string): number[] => [...uleb(s.length), ...Array.from(s, (ch) => ch.charCodeAt(0))];
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];

const I32 = 0x7f;
const V128 = 0x7b;
const op = {
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  end: [0x0b],
  brIf: (depth: number) => [0x0d, ...uleb(depth)],
  get: (i: number) => [0x20, ...uleb(i)],
  set: (i: number) => [0x21, ...uleb(i)],
  tee: (i: number) => [0x22, ...uleb(i)],
  i32Const: (v: number) => [0x41, ...sleb(v)],
  i32Add: [0x6a],
  i32Sub: [0x6b],
  // SIMD instructions: prefix 0xfd, then the opcode as a LEB128 u32; memarg = (log2 align, offset).
  v128Load: (offset: number) => [0xfd, ...uleb(0x00), 4, ...uleb(offset)],
  v128Store: (offset: number) => [0xfd, ...uleb(0x0b), 4, ...uleb(offset)],
  load32Splat: (offset: number) => [0xfd, ...uleb(0x09), 2, ...uleb(offset)],
  f32x4Add: [0xfd, ...uleb(0xe4)],
  f32x4Mul: [0xfd, ...uleb(0xe6)],
};

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
  emit(op.end);
  const locals = vec([[...uleb(1), I32], [...uleb(MR * NV + NV + 1), V128]]);
  const body = [...locals, ...code];
  return [...uleb(body.length), ...body];
}

function moduleBytes(): Uint8Array<ArrayBuffer> {
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
    ...section(1, vec([[0x60, ...vec([[I32], [I32], [I32], [I32], [I32]]), 0x00]])), // type 0: (i32 x5) -> ()
    ...section(3, vec([uleb(0)])), // function 0 has type 0
    ...section(5, vec([[0x00, ...uleb(1)]])), // one memory, at least 1 page, no maximum
    ...section(7, vec([[...str("micro"), 0x00, ...uleb(0)], [...str("mem"), 0x02, ...uleb(0)]])),
    ...section(10, vec([microBody()])),
  ]);
}

export interface SimdKernel {
  micro: (pa: number, pb: number, pc: number, kc: number, ldc: number) => void;
  memory: WebAssembly.Memory;
}

let cached: SimdKernel | null | undefined;

/** The instantiated kernel, or null where WebAssembly SIMD is unavailable (then gemm stays in JS). */
export function simdKernel(): SimdKernel | null {
  if (cached !== undefined) return cached;
  try {
    const bytes = moduleBytes();
    // Synchronous compile: the module is a few hundred bytes, far below any engine's limit.
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), {});
    const { micro, mem } = instance.exports as { micro: SimdKernel["micro"]; mem: WebAssembly.Memory };
    cached = { micro, memory: mem };
  } catch {
    cached = null;
  }
  return cached;
}
