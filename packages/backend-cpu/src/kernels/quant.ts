import { numel, quantizedLayout, Tensor, type AnyStorage, type QuantAttrs } from "@densessm/core";
import { Q4_GROUPS, Q8_BLOCK, quantModule, type QuantKernel } from "./quant-simd.js";
import type { KernelFactory } from "./types.js";

// Quantized matrix products on the CPU. With WebAssembly SIMD, each weight matrix is copied once
// (at its first use) into a WebAssembly memory of its own, laid out for the kernels in
// quant-simd.ts, and stays there while its tensor lives; a call then only writes the activations
// in and reads the outputs back. Without SIMD (or for group sizes the kernels do not cover) a
// plain-JS loop dequantizes each code as it goes.

const ROWS_PER_CALL = 4;
const align = (n: number): number => Math.ceil(n / 16) * 16;

/** One weight matrix resident in WebAssembly memory, with room for 4 activation rows. */
interface Resident {
  readonly attrs: QuantAttrs;
  readonly kernels: Record<string, QuantKernel>;
  readonly rows: number;
  /** Blocks of 128 columns (int8) or groups (4-bit). */
  readonly count: number;
  /** Columns after padding to whole blocks/groups. */
  readonly padded: number;
  readonly at: { x: number; sx: number; w: number; s: number; y: number };
  readonly x: Int16Array;
  readonly sx: Float32Array;
  readonly s: Float32Array;
  readonly y: Float32Array;
  /** The scale storage last copied in (a session re-upload brings a new one). */
  scaleSource: AnyStorage;
}

const residents = new WeakMap<AnyStorage, Resident>();

/** Whether the SIMD kernels cover this format (4-bit group sizes 32, 64 and 128; int8 always). */
const simdCovers = (a: QuantAttrs): boolean => a.bits === 8 || Q4_GROUPS.includes(a.groupSize);

function makeResident(codes: Tensor, scale: Tensor, attrs: QuantAttrs, module: WebAssembly.Module): Resident {
  const rows = codes.shape[0]!;
  const count = attrs.bits === 8 ? Math.ceil(attrs.cols / Q8_BLOCK) : quantizedLayout(attrs, rows, attrs.cols).groups;
  const padded = attrs.bits === 8 ? count * Q8_BLOCK : count * attrs.groupSize;
  const rowBytes = (padded * attrs.bits) / 8;
  const scales = attrs.bits === 8 ? rows : rows * count;
  let end = 0;
  const take = (bytes: number) => {
    const start = end;
    end = align(end + bytes);
    return start;
  };
  const at = { x: take(ROWS_PER_CALL * padded * 2), sx: take(ROWS_PER_CALL * count * 4), w: take(rows * rowBytes), s: take(scales * 4), y: take(rows * ROWS_PER_CALL * 4) };
  const memory = new WebAssembly.Memory({ initial: Math.max(1, Math.ceil(end / 65536)) });
  const kernels = new WebAssembly.Instance(module, { env: { mem: memory } }).exports as Record<string, QuantKernel>;
  const { buffer } = memory; // never grown, so these views stay valid
  const bytes = new Uint8Array(buffer, at.w, rows * rowBytes);
  const source = new Uint8Array(codes.data.buffer, codes.data.byteOffset, codes.data.byteLength);
  if (attrs.bits === 8) for (let r = 0; r < rows; r++) bytes.set(source.subarray(r * attrs.cols, (r + 1) * attrs.cols), r * rowBytes);
  else bytes.set(source);
  const s = new Float32Array(buffer, at.s, scales);
  s.set(scale.data as Float32Array);
  return {
    attrs,
    kernels,
    rows,
    count,
    padded,
    at,
    x: new Int16Array(buffer, at.x, ROWS_PER_CALL * padded),
    sx: new Float32Array(buffer, at.sx, ROWS_PER_CALL * count),
    s,
    y: new Float32Array(buffer, at.y, rows * ROWS_PER_CALL),
    scaleSource: scale.data,
  };
}

function resident(codes: Tensor, scale: Tensor, attrs: QuantAttrs, module: WebAssembly.Module): Resident {
  let w = residents.get(codes.data);
  if (!w || w.attrs.bits !== attrs.bits || w.attrs.groupSize !== attrs.groupSize || w.attrs.cols !== attrs.cols) {
    w = makeResident(codes, scale, attrs, module);
    residents.set(codes.data, w);
  }
  if (w.scaleSource !== scale.data) {
    w.s.set(scale.data as Float32Array);
    w.scaleSource = scale.data;
  }
  return w;
}

/**
 * Rounds `count` rows of x (from row `first`) to 16-bit integers, one scale per block of `block`
 * columns, into the kernel's layout: per block, the rows side by side (4-bit: per 32-column chunk,
 * 16 even then 16 odd columns, matching the low and high nibbles of the codes).
 */
function writeActivations(w: Resident, x: Float32Array, first: number, count: number): void {
  const { cols } = w.attrs;
  const block = w.attrs.bits === 8 ? Q8_BLOCK : w.attrs.groupSize;
  const interleave = w.attrs.bits === 4;
  for (let b = 0; b < w.count; b++) {
    const c0 = b * block;
    const c1 = Math.min(cols, c0 + block);
    for (let r = 0; r < count; r++) {
      const row = (first + r) * cols;
      let m = 0;
      for (let c = c0; c < c1; c++) m = Math.max(m, Math.abs(x[row + c]!));
      const scale = m / 32767;
      const inv = m === 0 ? 0 : 32767 / m;
      w.sx[b * count + r] = scale;
      const base = (b * count + r) * block;
      for (let c = c0; c < c0 + block; c++) {
        const q = c < c1 ? Math.round(x[row + c]! * inv) : 0;
        const k = c - c0;
        // 4-bit: chunk of 32 columns → [r][16 even][16 odd] within the chunk's 32 * count slots.
        const slot = interleave ? b * block * count + (k >> 5) * 32 * count + r * 32 + ((k & 1) << 4) + ((k & 31) >> 1) : base + k;
        w.x[slot] = q;
      }
    }
  }
}

function simdProduct(w: Resident, x: Float32Array, out: Float32Array, m: number): void {
  const name = w.attrs.bits === 8 ? "q8" : `q4g${w.attrs.groupSize}`;
  for (let first = 0; first < m; ) {
    const count = m - first >= ROWS_PER_CALL ? ROWS_PER_CALL : 1;
    writeActivations(w, x, first, count);
    w.kernels[`${name}_${count}`]!(w.at.x, w.at.sx, w.at.w, w.at.s, w.at.y, w.rows, w.count);
    for (let r = 0; r < count; r++) {
      const o = (first + r) * w.rows;
      for (let j = 0; j < w.rows; j++) out[o + j] = w.y[j * count + r]!;
    }
    first += count;
  }
}

/** The float reference, code by code: y[i, j] = sum_k x[i, k] * (code[j, k] - zero) * scale[j, group(k)]. */
function jsProduct(attrs: QuantAttrs, x: Float32Array, codes: AnyStorage, scale: Float32Array, out: Float32Array, m: number, n: number): void {
  const { cols } = attrs;
  const { groups, rowBytes } = quantizedLayout(attrs, n, cols);
  const w = new Float32Array(cols);
  for (let j = 0; j < n; j++) {
    dequantizeRow(attrs, codes, j * rowBytes, scale, j * groups, w);
    for (let i = 0; i < m; i++) {
      let s = 0;
      for (let k = 0; k < cols; k++) s += x[i * cols + k]! * w[k]!;
      out[i * n + j] = s;
    }
  }
}

/** One row of codes (at byte `at`) and scales (at `sAt`) → `out` [cols] float32. */
function dequantizeRow(attrs: QuantAttrs, codes: AnyStorage, at: number, scale: Float32Array, sAt: number, out: Float32Array): void {
  for (let k = 0; k < attrs.cols; k++) {
    const s = scale[sAt + Math.floor(k / attrs.groupSize)]!;
    out[k] = attrs.bits === 8 ? codes[at + k]! * s : (((codes[at + (k >> 1)]! >> ((k & 1) << 2)) & 15) - 8) * s;
  }
}

/**
 * quantizedMatmul: x [..., M, cols] @ Wᵀ with W quantized [N, cols] (codes, float32 scales). The
 * WebAssembly SIMD path rounds activations to 16 bits per block (relative error below 2^-15 of
 * the block's largest value); the JS path is the exact float reference.
 */
export const quantizedMatmulKernel: KernelFactory = (node, [x, codes]) => {
  const attrs = node.attrs as unknown as QuantAttrs;
  const n = codes!.shape[0]!;
  const m = numel(x!.shape) / attrs.cols;
  const module = simdCovers(attrs) ? quantModule() : null;
  // Weights (parameters, constants) are immutable, so their resident copy is kept; codes computed
  // in the graph or fed as inputs may change between runs and are copied in each time.
  const stable = codes!.op === "param" || codes!.op === "const";
  return ([xs, c, s], alloc) => {
    const out = alloc("float32", m * n) as Float32Array;
    if (module) simdProduct(stable ? resident(c!, s!, attrs, module) : makeResident(c!, s!, attrs, module), xs!.data as Float32Array, out, m);
    else jsProduct(attrs, xs!.data as Float32Array, c!.data, s!.data as Float32Array, out, m, n);
    return new Tensor(out, node.shape, "float32");
  };
};

/** dequantize: codes [..., rows, bytes] and scales [..., rows, groups] → float32 [..., rows, cols]. */
export const dequantizeKernel: KernelFactory = (node, [codes]) => {
  const attrs = node.attrs as unknown as QuantAttrs;
  const rows = numel(codes!.shape.slice(0, -1));
  const { groups, rowBytes } = quantizedLayout(attrs, 1, attrs.cols);
  return ([c, s], alloc) => {
    const out = alloc("float32", rows * attrs.cols) as Float32Array;
    for (let r = 0; r < rows; r++) dequantizeRow(attrs, c!.data, r * rowBytes, s!.data as Float32Array, r * groups, out.subarray(r * attrs.cols, (r + 1) * attrs.cols));
    return new Tensor(out, node.shape, "float32");
  };
};
