import { numel, stridesOf, type DType, type Shape } from "@densessm/core";

// Helpers for generating WGSL. Every kernel is specialised per node: shapes, strides and constants
// are baked into the source as literals, so no uniform buffers are needed and identical layers
// share one cached pipeline (the cache is keyed by the source text).

/** Threads per workgroup for one-thread-per-element kernels. */
export const WG = 64;

/** The largest workgroup count in one dispatch dimension (WebGPU's guaranteed minimum). */
const MAX_GROUPS = 65535;

/** Every dtype lives in 32-bit words: int32 as i32, the float formats widened to f32. */
export function wgslType(dtype: DType): "i32" | "f32" {
  return dtype === "int32" ? "i32" : "f32";
}

export const u32Lit = (v: number): string => `${v >>> 0}u`;

/**
 * A float literal, exact for every float32. WGSL rejects infinities and NaN in constant
 * expressions, so those are built from bits plus a private (hence non-constant) zero that
 * `bindings` declares in every kernel.
 */
export function f32Lit(v: number): string {
  if (Number.isFinite(v)) {
    const s = String(v);
    return /[.e]/.test(s) ? s : `${s}.0`;
  }
  const bits = new Uint32Array(new Float32Array([v]).buffer)[0]!;
  return `bitcast<f32>(${bits}u + RUNTIME_ZERO)`;
}

/** Minus infinity, the identity of max. */
export const NEG_INF = f32Lit(-Infinity);

export function scalarLit(v: number, dtype: DType): string {
  return dtype === "int32" ? `i32(${v | 0})` : f32Lit(v);
}

export interface Binding {
  readonly name: string;
  /** u32 only for packed float16 pairs. */
  readonly type: "i32" | "f32" | "u32";
}

/** Storage bindings: inputs read-only at 0..n-1, the output read-write at n. */
export function bindings(inputs: readonly Binding[], output: Binding): string {
  const lines = inputs.map((b, i) => `@group(0) @binding(${i}) var<storage, read> ${b.name}: array<${b.type}>;`);
  lines.push(`@group(0) @binding(${inputs.length}) var<storage, read_write> ${output.name}: array<${output.type}>;`);
  lines.push("var<private> RUNTIME_ZERO: u32 = 0u;");
  return lines.join("\n");
}

/** Workgroup counts covering `groups` workgroups, folded into y when x would overflow. */
export function grid(groups: number): [number, number, number] {
  if (groups <= MAX_GROUPS) return [Math.max(groups, 1), 1, 1];
  return [MAX_GROUPS, Math.ceil(groups / MAX_GROUPS), 1];
}

/** Workgroups for one thread per element. */
export const elementGrid = (n: number): [number, number, number] => grid(Math.ceil(n / WG));

/** Entry point of a one-thread-per-element kernel over `n` elements; `body` sees `i: u32`. */
export function elementwiseMain(n: number, body: string): string {
  return `@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * ${WG}u;
  if (i >= ${u32Lit(n)}) { return; }
${body}
}`;
}

/** Entry point of a one-workgroup-per-item kernel; `body` sees `item: u32` and `tid: u32`. */
export function groupMain(size: number, body: string): string {
  return `@compute @workgroup_size(${size})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let item = wid.x + wid.y * nwg.x;
${body}
}`;
}

/**
 * A WGSL function mapping a row-major index over `shape` to `base + sum(coord[d] * strides[d])`:
 * the source offset of a strided view (permute, slice, broadcast).
 */
export function offsetFn(name: string, shape: Shape, strides: readonly number[], base = 0): string {
  const lines = [`fn ${name}(index: u32) -> u32 {`, `  var r = index;`, `  var o = ${u32Lit(base)};`];
  for (let d = shape.length - 1; d >= 0; d--) {
    const size = shape[d]!;
    const stride = strides[d]!;
    if (size === 1) continue;
    if (stride !== 0) lines.push(`  o += (r % ${u32Lit(size)}) * ${u32Lit(stride)};`);
    if (d > 0) lines.push(`  r = r / ${u32Lit(size)};`);
  }
  lines.push(`  return o;`, `}`);
  return lines.join("\n");
}

/** Strides with which a tensor of `shape` is read when broadcast to `outShape` (0 on broadcast axes). */
export function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const lead = outShape.length - shape.length;
  const src = stridesOf(shape);
  return outShape.map((_, i) => (i < lead || shape[i - lead] === 1 ? 0 : src[i - lead]!));
}

/** An offset function for reading `shape` broadcast to `outShape`; the identity when they match. */
export function broadcastFn(name: string, shape: Shape, outShape: Shape): string {
  if (numel(shape) === numel(outShape)) return `fn ${name}(index: u32) -> u32 { return index; }`;
  return offsetFn(name, outShape, broadcastStrides(shape, outShape));
}

/** Splits a shape around `axis` into [outer, size, inner] element counts. */
export function aroundAxis(shape: Shape, axis: number): [number, number, number] {
  return [numel(shape.slice(0, axis)), shape[axis]!, numel(shape.slice(axis + 1))];
}

/** A tree reduction over `size` threads' values in workgroup memory `buf` with the combiner `op`. */
export function treeReduce(buf: string, size: number, combine: (a: string, b: string) => string): string {
  const lines: string[] = [];
  for (let s = size / 2; s >= 1; s /= 2) {
    lines.push(`  if (tid < ${s}u) { ${buf}[tid] = ${combine(`${buf}[tid]`, `${buf}[tid + ${s}u]`)}; }`, `  workgroupBarrier();`);
  }
  return lines.join("\n");
}

/** Combiners for treeReduce and rowReduce. */
export const sumOf = (a: string, b: string): string => `${a} + ${b}`;
export const maxOf = (a: string, b: string): string => `max(${a}, ${b})`;

/**
 * A workgroup's reduction of one row: thread `tid` folds `value` (a WGSL expression of `j`) over
 * j = tid, tid + size, ... < length, the partials meet in a tree in workgroup memory `part`, and
 * every thread gets the result as `let name`. Ends with a barrier, so `part` can be reused.
 */
export function rowReduce(name: string, options: { length: number; value: string; init: string; combine: (a: string, b: string) => string; size: number; part?: string }): string {
  const { length, value, init, combine, size, part = "part" } = options;
  return `  var ${name}_acc = ${init};
  for (var j = tid; j < ${u32Lit(length)}; j += ${size}u) { ${name}_acc = ${combine(`${name}_acc`, value)}; }
  ${part}[tid] = ${name}_acc;
  workgroupBarrier();
${treeReduce(part, size, combine)}
  let ${name} = ${part}[0];
  workgroupBarrier();`;
}

/** Round-to-nearest-even conversions to float16 and bfloat16 values (kept in f32), bit for bit like core's. */
export const HALF_ROUNDING = `
fn round_f16(v: f32) -> f32 {
  let x = bitcast<u32>(v);
  let sign = (x >> 16u) & 0x8000u;
  let e8 = (x >> 23u) & 0xffu;
  var mant = x & 0x7fffffu;
  var h: u32;
  if (e8 == 0xffu) {
    h = sign | 0x7c00u | select(0u, 0x200u | (mant >> 13u), mant != 0u);
  } else {
    let e = i32(e8) - 127 + 15;
    if (e >= 0x1f) {
      h = sign | 0x7c00u;
    } else if (e <= 0) {
      if (e < -10) {
        h = sign;
      } else {
        mant = mant | 0x800000u;
        let shift = u32(14 - e);
        let half = 1u << (shift - 1u);
        let rest = mant & ((1u << shift) - 1u);
        var q = mant >> shift;
        if (rest > half || (rest == half && (q & 1u) != 0u)) { q = q + 1u; }
        h = sign | q;
      }
    } else {
      var q = (u32(e) << 10u) | (mant >> 13u);
      let rest = mant & 0x1fffu;
      if (rest > 0x1000u || (rest == 0x1000u && (q & 1u) != 0u)) { q = q + 1u; }
      h = sign | q;
    }
  }
  return half_bits_to_f32(h);
}

fn half_bits_to_f32(h: u32) -> f32 {
  let sign = select(1.0, -1.0, (h & 0x8000u) != 0u);
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e == 0u) { return sign * f32(m) * 5.9604644775390625e-8; }
  if (e == 0x1fu) {
    if (m != 0u) { return bitcast<f32>(0x7fc00000u + RUNTIME_ZERO); }
    return bitcast<f32>(select(0x7f800000u, 0xff800000u, (h & 0x8000u) != 0u));
  }
  return bitcast<f32>(((h & 0x8000u) << 16u) | ((e + 112u) << 23u) | (m << 13u));
}

fn round_bf16(v: f32) -> f32 {
  let x = bitcast<u32>(v);
  if ((x & 0x7f800000u) == 0x7f800000u && (x & 0x7fffffu) != 0u) { return bitcast<f32>(((x >> 16u) | 0x40u) << 16u); }
  let rounded = x + 0x7fffu + ((x >> 16u) & 1u);
  return bitcast<f32>((rounded >> 16u) << 16u);
}
`;

/** Packs a float32 [rows, cols] matrix into rows of ceil(cols/2) words of two float16 halves. */
export function packHalvesKernel(rows: number, cols: number): { code: string; groups: [number, number, number] } {
  const words = Math.ceil(cols / 2);
  const n = rows * words;
  const body = `  let row = i / ${u32Lit(words)};
  let c = (i % ${u32Lit(words)}) * 2u;
  let lo = x[row * ${u32Lit(cols)} + c];
  var hi = 0.0;
  if (c + 1u < ${u32Lit(cols)}) { hi = x[row * ${u32Lit(cols)} + c + 1u]; }
  y[i] = pack2x16float(vec2<f32>(lo, hi));`;
  return { code: `${bindings([{ name: "x", type: "f32" }], { name: "y", type: "u32" })}\n${elementwiseMain(n, body)}`, groups: elementGrid(n) };
}
