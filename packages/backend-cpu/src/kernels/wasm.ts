/**
 * A very small WebAssembly assembler: enough to encode the SIMD kernels of this package from
 * bytes, so it needs no WAT toolchain. Kernels build each function body as a flat list of
 * instructions (`op`) and `wasmModule` wraps them with types, exports and one memory.
 */

export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

export function sleb(n: number): number[] {
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

export const I32 = 0x7f;
export const F32 = 0x7d;
export const V128 = 0x7b;

// SIMD instructions: prefix 0xfd, then the opcode as a LEB128 u32; memarg = (log2 align, offset).
const simd = (code: number): number[] => [0xfd, ...uleb(code)];
const simdMem = (code: number, align: number) => (offset = 0): number[] => [0xfd, ...uleb(code), align, ...uleb(offset)];

export const op = {
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  end: [0x0b],
  br: (depth: number) => [0x0c, ...uleb(depth)],
  brIf: (depth: number) => [0x0d, ...uleb(depth)],
  get: (i: number) => [0x20, ...uleb(i)],
  set: (i: number) => [0x21, ...uleb(i)],
  tee: (i: number) => [0x22, ...uleb(i)],
  f32Load: (offset = 0) => [0x2a, 2, ...uleb(offset)],
  f32Store: (offset = 0) => [0x38, 2, ...uleb(offset)],
  i32Const: (v: number) => [0x41, ...sleb(v)],
  f32Const: (v: number) => [0x43, ...new Uint8Array(Float32Array.of(v).buffer)],
  i32Eqz: [0x45],
  i32Ne: [0x47],
  select: [0x1b],
  i32Add: [0x6a],
  i32Sub: [0x6b],
  i32Mul: [0x6c],
  f32Add: [0x92],
  f32Mul: [0x94],
  v128Load: simdMem(0x00, 4),
  /** 8 bytes, each sign-extended to an i16 lane. */
  v128Load8x8S: simdMem(0x01, 3),
  load32Splat: simdMem(0x09, 2),
  v128Store: simdMem(0x0b, 4),
  v128Const: (bytes: readonly number[]) => [0xfd, ...uleb(0x0c), ...bytes],
  /** v128.const of four equal float32 lanes. */
  f32x4Const: (v: number) => [0xfd, ...uleb(0x0c), ...Array.from({ length: 4 }, () => [...new Uint8Array(Float32Array.of(v).buffer)]).flat()],
  i32x4Const: (v: number) => [0xfd, ...uleb(0x0c), ...Array.from({ length: 4 }, () => [...new Uint8Array(Int32Array.of(v).buffer)]).flat()],
  f32x4ExtractLane: (lane: number) => [...simd(0x1f), lane],
  v128And: simd(0x4e),
  i8x16ShrU: simd(0x6d),
  i8x16Sub: simd(0x71),
  i16x8ExtendLowI8x16S: simd(0x87),
  i16x8ExtendHighI8x16S: simd(0x88),
  i32x4Add: simd(0xae),
  i32x4DotI16x8S: simd(0xba),
  f32x4Add: simd(0xe4),
  f32x4Sub: simd(0xe5),
  f32x4Mul: simd(0xe6),
  f32x4Min: simd(0xe8),
  f32x4Max: simd(0xe9),
  f32x4Nearest: simd(0x6a),
  i32x4Shl: simd(0xab),
  i32x4TruncSatF32x4S: simd(0xf8),
  f32x4Splat: simd(0x13),
  i8x16Splat: simd(0x0f),
  f32x4ConvertI32x4S: simd(0xfa),
};

export interface WasmFunction {
  readonly name: string;
  /** Parameter types (I32, F32, ...). Functions return nothing. */
  readonly params: readonly number[];
  /** Local declarations after the parameters: [count, type] runs. */
  readonly locals: readonly (readonly [number, number])[];
  readonly body: readonly number[];
}

/**
 * A module exporting `functions` and one memory: its own ("own", exported as "mem", at least one
 * page) or imported as env.mem ("import"), so one compiled module can run on many memories.
 */
export function wasmModule(functions: readonly WasmFunction[], memory: "own" | "import"): Uint8Array<ArrayBuffer> {
  const types = functions.map((f) => [0x60, ...vec(f.params.map((t) => [t])), 0x00]);
  const imports = memory === "import" ? [section(2, vec([[...str("env"), ...str("mem"), 0x02, 0x00, ...uleb(1)]]))] : [];
  const exports = functions.map((f, i) => [...str(f.name), 0x00, ...uleb(i)]);
  if (memory === "own") exports.push([...str("mem"), 0x02, ...uleb(0)]);
  const bodies = functions.map((f) => {
    const body = [...vec(f.locals.map(([count, type]) => [...uleb(count), type])), ...f.body, ...op.end];
    return [...uleb(body.length), ...body];
  });
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
    ...section(1, vec(types)),
    ...imports.flat(),
    ...section(3, vec(functions.map((_, i) => uleb(i)))),
    ...(memory === "own" ? section(5, vec([[0x00, ...uleb(1)]])) : []), // one memory, at least 1 page, no maximum
    ...section(7, vec(exports)),
    ...section(10, vec(bodies)),
  ]);
}

/** A module's own memory, and float32 views of it. */
export interface ModuleMemory {
  readonly memory: WebAssembly.Memory;
  /**
   * A float32 view of the memory with room for `count` floats, grown (and re-viewed: growing
   * detaches the old buffer) as needed. Kernels run one at a time, so each may use all of it.
   */
  floats(count: number): Float32Array;
}

/**
 * A module of `functions` with its own memory, instantiated on first use: its exported functions
 * and its memory, or null where the engine cannot compile it (no WebAssembly SIMD), so that callers
 * keep their JS path. Synchronous: these modules are a few KB, far below any engine's limit.
 */
export function lazyModule<T extends object>(functions: () => readonly WasmFunction[]): () => (T & ModuleMemory) | null {
  let cached: (T & ModuleMemory) | null | undefined;
  return () => {
    if (cached !== undefined) return cached;
    try {
      const instance = new WebAssembly.Instance(new WebAssembly.Module(wasmModule(functions(), "own")), {});
      const { mem, ...exported } = instance.exports;
      const memory = mem as WebAssembly.Memory;
      let view = new Float32Array(memory.buffer);
      const floats = (count: number): Float32Array => {
        const need = count * 4 - memory.buffer.byteLength;
        if (need > 0) memory.grow(Math.ceil(need / 65536));
        if (view.buffer !== memory.buffer) view = new Float32Array(memory.buffer);
        return view;
      };
      cached = { ...(exported as T), memory, floats };
    } catch {
      cached = null;
    }
    return cached;
  };
}
