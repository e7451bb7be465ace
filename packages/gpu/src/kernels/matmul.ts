import { BackendError, broadcastShapes, numel, stridesOf, type Shape } from "@densessm/core";
import type { KernelBuilder, Memory } from "../lang/builder.js";
import { defineKernel } from "../lang/kernel.js";
import { elementIndex, guard, offsetOf } from "../lang/std.js";
import { packBf16x2, packHalf2, select, toTf32, u32, unpackHalf, type Val } from "../lang/values.js";
import { codeInput, quantWeight } from "./codes.js";
import { grid } from "./grid.js";
import type { KernelContext, KernelFactory, KernelPlan } from "./types.js";

/** Rows at or below this go to a matrix-vector kernel (decoding: one row per sequence). */
export const MATVEC_ROWS = 8;
const TILE = 32;
/** Invocations per tile side (each computes a 4x4 block), and loads per invocation per K-tile. */
const SIDE = TILE / 4;
const THREADS = SIDE * SIDE;
const TILE_K = 16;
const LOADS = (TILE * TILE_K) / THREADS;
const REDUCE = 64;
const QUAD = [0, 1, 2, 3] as const;
/** Batch axes the tiled kernel's parameters describe. */
const MAX_BATCH_RANK = 4;

/** The batch layout: offsets of each operand's batch z, from its strides over the batch shape. */
export type BatchLayout = { readonly shape: readonly number[]; readonly aStrides: readonly number[]; readonly bStrides: readonly number[] };

type MatvecSpec = { readonly m: number; readonly k: number; readonly n: number; readonly transB: boolean; readonly packed: boolean; readonly batch: BatchLayout };

/** Element offset of every batch of an operand of `shape`, read broadcast to `batchShape`. */
function batchStrides(shape: Shape, batchShape: Shape): number[] {
  const lead = batchShape.length - (shape.length - 2);
  const strides = stridesOf(shape);
  return batchShape.map((_, i) => (i < lead || shape[i - lead] === 1 ? 0 : strides[i - lead]!));
}

function layout(aShape: Shape, bShape: Shape, transB: boolean): { batch: number; m: number; k: number; n: number; layout: BatchLayout } {
  const [m, k] = aShape.slice(-2) as [number, number];
  const n = transB ? bShape[bShape.length - 2]! : bShape[bShape.length - 1]!;
  const bBatch = transB ? [...bShape.slice(0, -2), k, n] : bShape;
  const batchShape = broadcastShapes(aShape.slice(0, -2), bBatch.slice(0, -2), "matmul");
  const aStrides = batchStrides(aShape, batchShape);
  const bStrides = batchStrides(bShape, batchShape);
  const batch = numel(batchShape);
  // x @ W with W shared by every batch and x not broadcast: one [batch * M, K] @ [K, N] product
  // reads W once instead of once per batch (a decode step with batch 8 is one 8-row product).
  if (batch > 1 && bStrides.every((s) => s === 0) && numel(aShape.slice(0, -2)) === batch) {
    return { batch: 1, m: batch * m, k, n, layout: { shape: [], aStrides: [], bStrides: [] } };
  }
  return { batch, m, k, n, layout: { shape: batchShape, aStrides, bStrides } };
}

/**
 * Reads W[kk, col] of the right operand at batch offset `bb`: [K, N] or, transposed in place,
 * [N, K]; or packed float16 pairs (`attrs.packedB`): W [N, K] as N rows of ceil(K/2) words,
 * unpacked with the pack/unpack intrinsics (no f16 arithmetic needed).
 */
function weightReader(b: Memory<"f32"> | Memory<"u32">, spec: { transB: boolean; packed: boolean }, k: Val<"u32"> | number, n: Val<"u32"> | number) {
  return (bb: Val<"u32">, kk: Val<"u32">, col: Val<"u32">): Val<"f32"> => {
    if (spec.packed) {
      const words = typeof k === "number" ? u32(Math.ceil(k / 2)) : k.add(1).div(2);
      const word = (b as Memory<"u32">).at(col.mul(words).add(kk.div(2)));
      return select(kk.and(1).eq(1), unpackHalf(word, true), unpackHalf(word, false));
    }
    const w = b as Memory<"f32">;
    return spec.transB ? w.at(bb.add(col.mul(k)).add(kk)) : w.at(bb.add(kk.mul(n)).add(col));
  };
}

function operands(k: KernelBuilder, packed: boolean) {
  const a = k.input("a", "f32");
  const b = packed ? k.input("b", "u32") : k.input("b", "f32");
  const y = k.output("y", "f32");
  return { a, b, y };
}

/**
 * Matrix-vector with B transposed (linear layers while decoding): one workgroup per output column
 * reduces the dot products of all M rows over K in parallel, reading W's row contiguously.
 */
const matvecWorkgroup = defineKernel("matmul.matvecWorkgroup", (k, spec: MatvecSpec) => {
  k.workgroupSize(REDUCE);
  const { a, b, y } = operands(k, spec.packed);
  const part = k.shared("part", "f32", REDUCE * spec.m);
  const tid = k.localIndex;
  const col = k.let("col", k.groupId.x.add(k.groupId.y.mul(65535)));
  k.if(col.ge(spec.n), () => k.return());
  const z = k.let("z", k.groupId.z);
  const ab = offsetOf(k, "ab", z, spec.batch.shape, spec.batch.aStrides);
  const bb = offsetOf(k, "bb", z, spec.batch.shape, spec.batch.bStrides);
  const readW = weightReader(b, spec, spec.k, spec.n);
  const rows = [...Array(spec.m).keys()];
  const acc = rows.map((r) => k.var(`acc${r}`, "f32", 0));
  k.range("kk", tid, spec.k, (kk) => {
    const w = k.let("w", readW(bb, kk, col));
    rows.forEach((r) => acc[r]!.set(acc[r]!.add(a.at(ab.add(r * spec.k).add(kk)).mul(w))));
  }, REDUCE);
  rows.forEach((r) => part.set(tid.add(r * REDUCE), acc[r]!));
  k.barrier();
  for (let s = REDUCE / 2; s >= 1; s /= 2) {
    k.if(tid.lt(s), () => rows.forEach((r) => part.set(tid.add(r * REDUCE), part.at(tid.add(r * REDUCE)).add(part.at(tid.add(r * REDUCE + s))))));
    k.barrier();
  }
  k.if(tid.eq(0), () => rows.forEach((r) => y.set(z.mul(spec.m * spec.n).add(r * spec.n).add(col), part.at(r * REDUCE))));
});

/** Matrix-vector with one invocation per output column and no barriers. */
const matvecThread = defineKernel("matmul.matvecThread", (k, spec: MatvecSpec) => {
  const { a, b, y } = operands(k, spec.packed);
  const col = k.let("col", k.globalId.x);
  k.if(col.ge(spec.n), () => k.return());
  const z = k.let("z", k.globalId.z);
  const ab = offsetOf(k, "ab", z, spec.batch.shape, spec.batch.aStrides);
  const bb = offsetOf(k, "bb", z, spec.batch.shape, spec.batch.bStrides);
  const readW = weightReader(b, spec, spec.k, spec.n);
  k.range("r", 0, spec.m, (r) => {
    const acc = k.var("acc", "f32", 0);
    k.range("kk", 0, spec.k, (kk) => acc.set(acc.add(a.at(ab.add(r.mul(spec.k)).add(kk)).mul(readW(bb, kk, col)))));
    y.set(z.mul(spec.m * spec.n).add(r.mul(spec.n)).add(col), acc);
  });
});

/**
 * Products with one output column and more rows than a matrix-vector product (a batch of
 * matrices times vectors: Mamba's read-out y = h·C, [B·T] batches of [E, N] · [N, 1]): one
 * invocation per output row sums over K. The tiled kernel would spend a whole tile of columns on
 * the one that exists.
 */
const rowDots = defineKernel("matmul.rowDots", (k, spec: MatvecSpec) => {
  const { a, b, y } = operands(k, spec.packed);
  const r = k.let("r", k.globalId.x);
  k.if(r.ge(spec.m), () => k.return());
  const z = k.let("z", k.globalId.z);
  const ab = offsetOf(k, "ab", z, spec.batch.shape, spec.batch.aStrides);
  const bb = offsetOf(k, "bb", z, spec.batch.shape, spec.batch.bStrides);
  const readW = weightReader(b, spec, spec.k, spec.n);
  const acc = k.var("acc", "f32", 0);
  k.range("kk", 0, spec.k, (kk) => acc.set(acc.add(a.at(ab.add(r.mul(spec.k)).add(kk)).mul(readW(bb, kk, u32(0))))));
  y.set(z.mul(spec.m).add(r), acc);
});

/** Workgroups one dispatch may have along an axis (WebGPU's guaranteed limit). */
const MAX_GROUPS = 65535;

/**
 * The tiled kernel's right operand: float32, packed float16 pairs, or quantized codes and scales
 * (core's quantizedMatmul: W [N, K] stored as codes, read transposed; for 8 bits `groupSize` is 0,
 * one scale per row, so one pipeline serves every shape).
 */
type TiledSpec = { readonly transB: boolean; readonly packed: boolean; readonly quant?: { readonly bits: 8 | 4; readonly groupSize: number; readonly bytes: boolean } };

/**
 * Stages a K-tile of the right operand in workgroup memory as Bs[k][col], `width` columns by
 * `depth` rows of K, each of `threads` invocations loading width·depth/threads elements. [N, K]
 * rows are contiguous along K and [K, N] along N, so consecutive invocations read along whichever
 * is contiguous; outside the matrix, zeros. Shared by the tiled and tensor-core kernels.
 */
function stageB(
  k: KernelBuilder,
  Bs: Memory<"f32">,
  tile: { readonly width: number; readonly depth: number; readonly threads: number; readonly transB: boolean },
  at: { readonly tid: Val<"u32">; readonly n0: Val<"u32">; readonly k0: Val<"u32">; readonly n: Val<"u32">; readonly k: Val<"u32">; readonly bb: Val<"u32"> },
  readW: (bb: Val<"u32">, kk: Val<"u32">, col: Val<"u32">) => Val<"f32">,
): void {
  k.range("l", 0, (tile.width * tile.depth) / tile.threads, (l) => {
    const e = k.let("e", at.tid.add(l.mul(tile.threads)));
    const nn = k.let("nn", tile.transB ? e.div(tile.depth) : e.rem(tile.width));
    const kt = k.let("kt", tile.transB ? e.rem(tile.depth) : e.div(tile.width));
    const gn = k.let("gn", at.n0.add(nn));
    const gk = k.let("gk", at.k0.add(kt));
    const v = k.var("v", "f32", 0);
    k.if(gn.lt(at.n).and(gk.lt(at.k)), () => v.set(readW(at.bb, gk, gn)));
    Bs.set(kt.mul(tile.width).add(nn), v);
  });
}

/**
 * The tiled kernel: a 32x32 output tile per workgroup, 8x8 invocations each accumulating a 4x4
 * block from K-tiles of 16 staged in workgroup memory ([k][m] and [k][n], so the inner loop reads
 * contiguous rows). Shapes and batch strides are parameters, so one pipeline per B layout serves
 * every shape (compiling one per shape took seconds on SwiftShader). Quantized weights are
 * dequantized as their tile is staged, once per element per workgroup.
 */
const tiledKernel = defineKernel("matmul.tiled", (k, spec: TiledSpec) => {
  k.workgroupSize(SIDE, SIDE);
  const a = k.input("a", "f32");
  const b = spec.quant ? codeInput(k, spec.quant.bytes) : spec.packed ? k.input("b", "u32") : k.input("b", "f32");
  const scale = spec.quant ? k.input("scale", "f32") : undefined;
  const y = k.output("y", "f32");
  const m = k.param("m", "u32");
  const n = k.param("n", "u32");
  const kk_ = k.param("k", "u32");
  const dims = QUAD.map((d) => k.param(`dim${d}`, "u32"));
  const aStr = QUAD.map((d) => k.param(`aStride${d}`, "u32"));
  const bStr = QUAD.map((d) => k.param(`bStride${d}`, "u32"));
  const As = k.shared("As", "f32", TILE * TILE_K);
  const Bs = k.shared("Bs", "f32", TILE * TILE_K);
  const z = k.let("z", k.groupId.z);
  const m0 = k.let("m0", k.groupId.y.mul(TILE));
  const n0 = k.let("n0", k.groupId.x.mul(TILE));
  const lx = k.localId.x;
  const ly = k.localId.y;
  const tid = k.let("tid", ly.mul(SIDE).add(lx));
  const ab = batchOffset(k, "ab", z, dims, aStr);
  const bb = batchOffset(k, "bb", z, dims, bStr);
  const dequantized = spec.quant && quantWeight(b as Memory<"u32"> | Memory<"i32">, scale!, spec.quant, kk_);
  const readW = dequantized ? (_: Val<"u32">, kk: Val<"u32">, col: Val<"u32">) => dequantized(col, kk) : weightReader(b as Memory<"f32"> | Memory<"u32">, spec, kk_, n);
  const acc = QUAD.map((i) => QUAD.map((j) => k.var(`acc${i}${j}`, "f32", 0)));
  k.range("k0", 0, kk_, (k0) => {
    k.range("l", 0, LOADS, (l) => {
      const e = k.let("e", tid.add(l.mul(THREADS)));
      const mm = k.let("mm", e.div(TILE_K));
      const kt = k.let("kt", e.rem(TILE_K));
      const gm = k.let("gm", m0.add(mm));
      const gk = k.let("gk", k0.add(kt));
      const v = k.var("v", "f32", 0);
      k.if(gm.lt(m).and(gk.lt(kk_)), () => v.set(a.at(ab.add(gm.mul(kk_)).add(gk))));
      As.set(kt.mul(TILE).add(mm), v);
    });
    stageB(k, Bs, { width: TILE, depth: TILE_K, threads: THREADS, transB: spec.transB }, { tid, n0, k0, n, k: kk_, bb }, readW);
    k.barrier();
    k.range("kt", 0, TILE_K, (kt) => {
      const ar = QUAD.map((i) => k.let(`ar${i}`, As.at(kt.mul(TILE).add(ly.mul(4)).add(i))));
      const br = QUAD.map((j) => k.let(`br${j}`, Bs.at(kt.mul(TILE).add(lx.mul(4)).add(j))));
      for (const i of QUAD) for (const j of QUAD) acc[i]![j]!.set(acc[i]![j]!.add(ar[i]!.mul(br[j]!)));
    });
    k.barrier();
  }, TILE_K);
  const yb = k.let("yb", z.mul(m).mul(n));
  for (const i of QUAD) {
    const gm = k.let("gm", m0.add(ly.mul(4)).add(i));
    for (const j of QUAD) {
      const gn = k.let("gn", n0.add(lx.mul(4)).add(j));
      k.if(gm.lt(m).and(gn.lt(n)), () => y.set(yb.add(gm.mul(n)).add(gn), acc[i]![j]!));
    }
  }
});

/** Tensor-core tile: 64x64 outputs per workgroup of 4 warps (2x2, 32x32 each), K-tiles of 16. */
const MMA_TILE = 64;
const MMA_K = 16;
const MMA_THREADS = 128;

/**
 * The tiled product on the tensor cores (CUDA, sm_80 and newer): each warp accumulates its 32x32
 * block as 2x4 mma tiles of 16x8 in f32, from K-tiles of 16 staged in workgroup memory as f32 and
 * rounded to the mma's input type as the fragments are read: bfloat16 ("bf16": one m16n8k16 per
 * K-tile) or TF32 ("tf32": two m16n8k8). The same parameters as the tiled kernel (shapes, batch
 * strides, B transposed or not). Fragment layouts: see interpret/mma.ts.
 */
const mmaKernel = defineKernel("matmul.mma", (k, spec: { transB: boolean; input: "bf16" | "tf32" }) => {
  k.workgroupSize(MMA_THREADS);
  const { a, b, y } = operands(k, false);
  const m = k.param("m", "u32");
  const n = k.param("n", "u32");
  const kk_ = k.param("k", "u32");
  const dims = QUAD.map((d) => k.param(`dim${d}`, "u32"));
  const aStr = QUAD.map((d) => k.param(`aStride${d}`, "u32"));
  const bStr = QUAD.map((d) => k.param(`bStride${d}`, "u32"));
  const As = k.shared("As", "f32", MMA_TILE * MMA_K); // [row][k]
  const Bs = k.shared("Bs", "f32", MMA_K * MMA_TILE); // [k][col]
  const z = k.let("z", k.groupId.z);
  const m0 = k.let("m0", k.groupId.y.mul(MMA_TILE));
  const n0 = k.let("n0", k.groupId.x.mul(MMA_TILE));
  const tid = k.localIndex;
  const warp = k.let("warp", tid.div(32));
  const lane = k.let("lane", tid.rem(32));
  const g = k.let("g", lane.div(4));
  const t = k.let("t", lane.rem(4));
  const wm = k.let("wm", warp.div(2).mul(32));
  const wn = k.let("wn", warp.rem(2).mul(32));
  const ab = batchOffset(k, "ab", z, dims, aStr);
  const bb = batchOffset(k, "bb", z, dims, bStr);
  const readW = weightReader(b, { transB: spec.transB, packed: false }, kk_, n);
  const acc = [0, 1].map((mi) => QUAD.map((nj) => QUAD.map((q) => k.var(`acc${mi}${nj}${q}`, "f32", 0))));
  const loads = (MMA_TILE * MMA_K) / MMA_THREADS;
  k.range("k0", 0, kk_, (k0) => {
    k.range("l", 0, loads, (l) => {
      const e = k.let("e", tid.add(l.mul(MMA_THREADS)));
      const gm = k.let("gm", m0.add(e.div(MMA_K)));
      const gk = k.let("gk", k0.add(e.rem(MMA_K)));
      const v = k.var("v", "f32", 0);
      k.if(gm.lt(m).and(gk.lt(kk_)), () => v.set(a.at(ab.add(gm.mul(kk_)).add(gk))));
      As.set(e, v);
    });
    stageB(k, Bs, { width: MMA_TILE, depth: MMA_K, threads: MMA_THREADS, transB: spec.transB }, { tid, n0, k0, n, k: kk_, bb }, readW);
    k.barrier();
    const A = (row: Val<"u32">, col: Val<"u32"> | number) => As.at(row.mul(MMA_K).add(col));
    const B = (kRow: Val<"u32"> | number, col: Val<"u32">) => Bs.at(u32(0).add(kRow).mul(MMA_TILE).add(col));
    for (const ks of spec.input === "bf16" ? [0] : [0, 8]) {
      const fragA = [0, 1].map((mi) => {
        const r = k.let(`r${mi}`, wm.add(mi * 16).add(g));
        const r8 = k.let(`r${mi}h`, r.add(8));
        if (spec.input === "tf32") return [A(r, t.add(ks)), A(r8, t.add(ks)), A(r, t.add(ks + 4)), A(r8, t.add(ks + 4))].map((x, i) => k.let(`a${mi}${i}`, toTf32(x)));
        const c = k.let(`c${mi}`, t.mul(2));
        const pair = (row: Val<"u32">, col: Val<"u32">) => packBf16x2(A(row, col), A(row, col.add(1)));
        return [pair(r, c), pair(r8, c), pair(r, c.add(8)), pair(r8, c.add(8))].map((x, i) => k.let(`a${mi}${i}`, x));
      });
      const fragB = QUAD.map((nj) => {
        const c = k.let(`col${nj}`, wn.add(nj * 8).add(g));
        if (spec.input === "tf32") return [k.let(`b${nj}0`, toTf32(B(t.add(ks), c))), k.let(`b${nj}1`, toTf32(B(t.add(ks + 4), c)))];
        const k2 = k.let(`k2_${nj}`, t.mul(2));
        return [0, 8].map((o, i) => k.let(`b${nj}${i}`, packBf16x2(B(k2.add(o), c), B(k2.add(o + 1), c))));
      });
      for (const mi of [0, 1]) for (const nj of QUAD) k.mma(spec.input === "bf16" ? "m16n8k16.bf16" : "m16n8k8.tf32", fragA[mi]!, fragB[nj]!, acc[mi]![nj]!);
    }
    k.barrier();
  }, MMA_K);
  const yb = k.let("yb", z.mul(m).mul(n));
  for (const mi of [0, 1]) {
    for (const nj of QUAD) {
      for (const q of QUAD) {
        const gm = k.let("gm", m0.add(wm).add(mi * 16 + (q >= 2 ? 8 : 0)).add(g));
        const gn = k.let("gn", n0.add(wn).add(nj * 8 + (q & 1)).add(t.mul(2)));
        k.if(gm.lt(m).and(gn.lt(n)), () => y.set(yb.add(gm.mul(n)).add(gn), acc[mi]![nj]![q]!));
      }
    }
  }
});

/** The batch offset of z: its coordinates over dims (innermost last) times an operand's strides. */
function batchOffset(k: KernelBuilder, name: string, z: Val<"u32">, dims: readonly Val<"u32">[], strides: readonly Val<"u32">[]): Val<"u32"> {
  let r: Val<"u32"> = z;
  let o: Val<"u32"> = u32(0);
  for (let d = MAX_BATCH_RANK - 1; d >= 0; d--) {
    o = o.add(r.rem(dims[d]!).mul(strides[d]!));
    r = r.div(dims[d]!);
  }
  return k.let(name, o);
}

/**
 * The tiled product's plan; with `matmul` "tf32" or "bf16" (CUDA's tensor cores) float32 weights
 * go to the mma kernel instead.
 */
export function tiledPlan(spec: TiledSpec, batch: number, m: number, k: number, n: number, l: BatchLayout, matmul: KernelContext["matmul"] = "f32"): KernelPlan {
  if (l.shape.length > MAX_BATCH_RANK) throw new BackendError(`gpu: matmul with ${l.shape.length} batch axes (at most ${MAX_BATCH_RANK})`);
  const pad = (xs: readonly number[], fill: number) => [...new Array<number>(MAX_BATCH_RANK - xs.length).fill(fill), ...xs];
  const params = [m, n, k, ...pad(l.shape, 1), ...pad(l.aStrides, 0), ...pad(l.bStrides, 0)];
  if (matmul && matmul !== "f32" && !spec.packed && !spec.quant) {
    return { dispatches: [{ program: mmaKernel.specialize({ transB: spec.transB, input: matmul }), groups: [Math.ceil(n / MMA_TILE), Math.ceil(m / MMA_TILE), batch], inputs: [0, 1], params }] };
  }
  return { dispatches: [{ program: tiledKernel.specialize(spec), groups: [Math.ceil(n / TILE), Math.ceil(m / TILE), batch], inputs: spec.quant ? [0, 1, 2] : [0, 1], params }] };
}

/**
 * Batched matmul with broadcast batch dims, reading B transposed in place when the graph's
 * transpose was folded into it (`attrs.transB`). Matrix-vector kernels for M <= 8 (the workgroup
 * form only with B transposed, where W's rows are contiguous), otherwise the tiled kernel. Every
 * kernel accumulates over K in increasing order.
 */
export const matmulNode: KernelFactory = (node, [a, b], ctx) => {
  const transB = node.attrs.transB === true;
  const packed = node.attrs.packedB === true;
  const { batch, m, k, n, layout: l } = layout(a!.shape, b!.shape, transB);
  if (m <= MATVEC_ROWS) {
    const spec: MatvecSpec = { m, k, n, transB, packed, batch: l };
    if (transB && ctx.matvec === "workgroup") {
      const [gx, gy] = grid(n);
      return { dispatches: [{ program: matvecWorkgroup.specialize(spec), groups: [gx, gy, batch], inputs: [0, 1] }] };
    }
    return { dispatches: [{ program: matvecThread.specialize(spec), groups: [Math.ceil(n / 64), 1, batch], inputs: [0, 1] }] };
  }
  if (n === 1 && batch <= MAX_GROUPS) {
    const spec: MatvecSpec = { m, k, n, transB, packed, batch: l };
    return { dispatches: [{ program: rowDots.specialize(spec), groups: [Math.ceil(m / 64), 1, batch], inputs: [0, 1] }] };
  }
  return tiledPlan({ transB, packed }, batch, m, k, n, l, ctx.matmul ?? "f32");
};

/** Packs a float32 [rows, cols] matrix into rows of ceil(cols/2) words of two float16 halves. */
export const packHalvesKernel = defineKernel("packHalves", (k, spec: { rows: number; cols: number }) => {
  const x = k.input("x", "f32");
  const y = k.output("y", "u32");
  const words = Math.ceil(spec.cols / 2);
  const i = elementIndex(k);
  guard(k, i, spec.rows * words);
  const row = k.let("row", i.div(words));
  const c = k.let("c", i.rem(words).mul(2));
  const lo = k.let("lo", x.at(row.mul(spec.cols).add(c)));
  const hi = k.var("hi", "f32", 0);
  k.if(c.add(1).lt(spec.cols), () => hi.set(x.at(row.mul(spec.cols).add(c).add(1))));
  y.set(i, packHalf2(lo, hi));
});
