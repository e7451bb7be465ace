import { BackendError, broadcastShapes, numel, stridesOf, type Shape } from "@densessm/core";
import type { KernelFactory, KernelPlan } from "./types.js";
import { single } from "./types.js";
import { bindings, grid, offsetFn, u32Lit } from "./wgsl.js";

/** Rows at or below this go to the matrix-vector kernel (decoding: one row per sequence). */
const MATVEC_ROWS = 8;
const TILE = 32;
/** Threads per tile side (each computes a 4x4 block), and loads per thread per K-tile. */
const SIDE = TILE / 4;
const THREADS = SIDE * SIDE;
const LOADS = (TILE * 16) / THREADS;
const TILE_K = 16;
const REDUCE = 64;
const QUAD = [0, 1, 2, 3];

interface Layout {
  /** Batch count after folding a broadcast-free right operand into the rows. */
  batch: number;
  m: number;
  k: number;
  n: number;
  /** Offset functions from batch index to each operand's first element. */
  fns: string;
}

/** Element offset of every batch of an operand of `shape`, read broadcast to `batchShape`. */
function batchStrides(shape: Shape, batchShape: Shape): number[] {
  const lead = batchShape.length - (shape.length - 2);
  const strides = stridesOf(shape);
  return batchShape.map((_, i) => (i < lead || shape[i - lead] === 1 ? 0 : strides[i - lead]!));
}

function layout(aShape: Shape, bShape: Shape, transB: boolean): Layout {
  const [m, k] = aShape.slice(-2) as [number, number];
  const n = transB ? bShape[bShape.length - 2]! : bShape[bShape.length - 1]!;
  const bBatch = transB ? [...bShape.slice(0, -2), k, n] : bShape;
  const batchShape = broadcastShapes(aShape.slice(0, -2), bBatch.slice(0, -2), "matmul");
  const aStr = batchStrides(aShape, batchShape);
  const bStr = batchStrides(bShape, batchShape);
  const batch = numel(batchShape);
  // x @ W with W shared by every batch and x not broadcast: one [batch * M, K] @ [K, N] product
  // reads W once instead of once per batch (a decode step with batch 8 is one 8-row product).
  if (batch > 1 && bStr.every((s) => s === 0) && numel(aShape.slice(0, -2)) === batch) {
    return { batch: 1, m: batch * m, k, n, fns: "fn aBase(z: u32) -> u32 { return 0u; }\nfn bBase(z: u32) -> u32 { return 0u; }" };
  }
  return { batch, m, k, n, fns: `${offsetFn("aBase", batchShape, aStr)}\n${offsetFn("bBase", batchShape, bStr)}` };
}

/** The WGSL expression reading B[kk, nn] at batch base `base`, in either layout. */
const readB = (transB: boolean, k: number, n: number, kk: string, nn: string, base = "bb") =>
  transB ? `b[${base} + ${nn} * ${u32Lit(k)} + ${kk}]` : `b[${base} + ${kk} * ${u32Lit(n)} + ${nn}]`;

/**
 * Packed float16 weights (`attrs.packedB`, see rewrite.ts): W [N, K] stored as N rows of
 * ceil(K/2) words, two halves per word, unpacked with the core WGSL builtin (no shader-f16 needed).
 */
const PACKED_READ = `
fn packed_w(row: u32, col: u32, words: u32) -> f32 {
  let pair = unpack2x16float(b[row * words + col / 2u]);
  return select(pair.x, pair.y, (col & 1u) == 1u);
}`;

/**
 * Batched matmul with broadcast batch dims, reading B transposed in place when the graph's
 * transpose was folded into it (`attrs.transB`, see rewrite.ts). Three kernels:
 * - matrix-vector (M <= 8) with B transposed: one workgroup per output column reduces the dot
 *   products of all M rows over K in parallel, reading W's row contiguously;
 * - matrix-vector with B in [K, N] layout (or transposed, when the context asks for "thread"
 *   matvec): one thread per output column;
 * - otherwise the tiled kernel below.
 * Every kernel accumulates over K in increasing order.
 */
export const matmulKernel: KernelFactory = (node, [a, b], ctx) => {
  const transB = node.attrs.transB === true;
  const packed = node.attrs.packedB === true;
  const { batch, m, k, n, fns } = layout(a!.shape, b!.shape, transB);
  const head = `${bindings([{ name: "a", type: "f32" }, { name: "b", type: packed ? "u32" : "f32" }], { name: "y", type: "f32" })}\n${fns}${packed ? PACKED_READ : ""}`;
  const readW = (kk: string, nn: string) => (packed ? `packed_w(${nn}, ${kk}, ${u32Lit(Math.ceil(k / 2))})` : readB(transB, k, n, kk, nn));
  const yStride = m * n;

  if (m <= MATVEC_ROWS && transB && ctx.matvec === "workgroup") {
    const rows = [...Array(m).keys()];
    const code = `${head}
var<workgroup> part: array<f32, ${REDUCE * m}>;
@compute @workgroup_size(${REDUCE})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let col = wid.x + wid.y * 65535u;
  if (col >= ${u32Lit(n)}) { return; }
  let z = wid.z;
  let ab = aBase(z);
  let bb = bBase(z);
${rows.map((r) => `  var acc${r} = 0.0;`).join("\n")}
  for (var kk = tid; kk < ${u32Lit(k)}; kk += ${REDUCE}u) {
    let w = ${readW("kk", "col")};
${rows.map((r) => `    acc${r} += a[ab + ${u32Lit(r * k)} + kk] * w;`).join("\n")}
  }
${rows.map((r) => `  part[${u32Lit(r * REDUCE)} + tid] = acc${r};`).join("\n")}
  workgroupBarrier();
  for (var s = ${REDUCE / 2}u; s > 0u; s = s >> 1u) {
    if (tid < s) {
${rows.map((r) => `      part[${u32Lit(r * REDUCE)} + tid] += part[${u32Lit(r * REDUCE)} + tid + s];`).join("\n")}
    }
    workgroupBarrier();
  }
  if (tid == 0u) {
${rows.map((r) => `    y[z * ${u32Lit(yStride)} + ${u32Lit(r * n)} + col] = part[${u32Lit(r * REDUCE)}];`).join("\n")}
  }
}`;
    const [gx, gy] = grid(n);
    return single(code, [gx, gy, batch], 2);
  }

  if (m <= MATVEC_ROWS) {
    const code = `${head}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let col = gid.x;
  if (col >= ${u32Lit(n)}) { return; }
  let z = gid.z;
  let ab = aBase(z);
  let bb = bBase(z);
  for (var r = 0u; r < ${u32Lit(m)}; r++) {
    var acc = 0.0;
    for (var kk = 0u; kk < ${u32Lit(k)}; kk++) { acc += a[ab + r * ${u32Lit(k)} + kk] * ${readW("kk", "col")}; }
    y[z * ${u32Lit(yStride)} + r * ${u32Lit(n)} + col] = acc;
  }
}`;
    return single(code, [Math.ceil(n / 64), 1, batch], 2);
  }

  return tiled(a!.shape, b!.shape, transB, packed, batch, m, k, n);
};

/** The batch layout the tiled kernel reads from its uniform: up to this many batch axes. */
const MAX_BATCH_RANK = 4;

/**
 * The tiled kernel: a 32x32 output tile per workgroup, 8x8 threads each accumulating a 4x4 block
 * (as four vec4 rows) from K-tiles of 16 staged in workgroup memory ([k][m] and [k][n], so the
 * inner loop reads contiguous rows). Shapes and batch strides come from a uniform, so one pipeline
 * per B layout serves every shape.
 */
function tiled(aShape: Shape, bShape: Shape, transB: boolean, packed: boolean, batch: number, m: number, k: number, n: number): KernelPlan {
  const folded = batch === 1;
  const batchShape = folded ? [] : broadcastShapes(aShape.slice(0, -2), (transB ? [...bShape.slice(0, -2), k, n] : bShape).slice(0, -2), "matmul");
  if (batchShape.length > MAX_BATCH_RANK) throw new BackendError(`webgpu: matmul with ${batchShape.length} batch axes (at most ${MAX_BATCH_RANK})`);
  const pad = (xs: number[], fill: number) => [...new Array<number>(MAX_BATCH_RANK - xs.length).fill(fill), ...xs];
  const params = new Uint32Array([m, n, k, 0, ...pad(batchShape, 1), ...pad(folded ? [] : batchStrides(aShape, batchShape), 0), ...pad(folded ? [] : batchStrides(bShape, batchShape), 0)]);
  const loadB = transB
    ? `let nn = e / ${TILE_K}u; let kk = e % ${TILE_K}u;`
    : `let kk = e / ${TILE}u; let nn = e % ${TILE}u;`;
  const readBTile = packed ? "packed_w(gn, gk, (P.k + 1u) / 2u)" : transB ? "b[bb + gn * P.k + gk]" : "b[bb + gk * P.n + gn]";
  const code = `${bindings([{ name: "a", type: "f32" }, { name: "b", type: packed ? "u32" : "f32" }], { name: "y", type: "f32" })}${packed ? PACKED_READ : ""}
struct Params { m: u32, n: u32, k: u32, pad: u32, dims: vec4<u32>, aStr: vec4<u32>, bStr: vec4<u32> }
@group(0) @binding(3) var<uniform> P: Params;
fn batchOffset(z: u32, strides: vec4<u32>) -> u32 {
  var r = z;
  var o = 0u;
  for (var d = 3i; d >= 0i; d--) {
    o += (r % P.dims[d]) * strides[d];
    r = r / P.dims[d];
  }
  return o;
}
var<workgroup> As: array<f32, ${TILE * TILE_K}>;
var<workgroup> Bs: array<f32, ${TILE * TILE_K}>;
@compute @workgroup_size(${SIDE}, ${SIDE})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let z = wid.z;
  let m0 = wid.y * ${TILE}u;
  let n0 = wid.x * ${TILE}u;
  let tid = lid.y * ${SIDE}u + lid.x;
  let ab = batchOffset(z, P.aStr);
  let bb = batchOffset(z, P.bStr);
${QUAD.map((i) => `  var acc${i} = vec4<f32>(0.0);`).join("\n")}
  for (var k0 = 0u; k0 < P.k; k0 += ${TILE_K}u) {
    for (var l = 0u; l < ${LOADS}u; l++) {
      let e = tid + l * ${THREADS}u;
      let mm = e / ${TILE_K}u; let kk = e % ${TILE_K}u;
      let gm = m0 + mm; let gk = k0 + kk;
      var v = 0.0;
      if (gm < P.m && gk < P.k) { v = a[ab + gm * P.k + gk]; }
      As[kk * ${TILE}u + mm] = v;
    }
    for (var l = 0u; l < ${LOADS}u; l++) {
      let e = tid + l * ${THREADS}u;
      ${loadB}
      let gn = n0 + nn; let gk = k0 + kk;
      var v = 0.0;
      if (gn < P.n && gk < P.k) { v = ${readBTile}; }
      Bs[kk * ${TILE}u + nn] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${TILE_K}u; kk++) {
      let ar = vec4<f32>(${QUAD.map((i) => `As[kk * ${TILE}u + lid.y * 4u + ${i}u]`).join(", ")});
      let br = vec4<f32>(${QUAD.map((j) => `Bs[kk * ${TILE}u + lid.x * 4u + ${j}u]`).join(", ")});
${QUAD.map((i) => `      acc${i} += ar.${"xyzw"[i]} * br;`).join("\n")}
    }
    workgroupBarrier();
  }
  let yb = z * P.m * P.n;
${QUAD.map((i) => `  {
    let gm = m0 + lid.y * 4u + ${i}u;
${QUAD.map((j) => `    { let gn = n0 + lid.x * 4u + ${j}u; if (gm < P.m && gn < P.n) { y[yb + gm * P.n + gn] = acc${i}.${"xyzw"[j]}; } }`).join("\n")}
  }`).join("\n")}
}`;
  return { dispatches: [{ code, groups: [Math.ceil(n / TILE), Math.ceil(m / TILE), batch], inputs: [0, 1], params }] };
}
