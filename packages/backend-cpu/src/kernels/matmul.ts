import { numel, Tensor } from "@densessm/core";
import { MR, NR, simdKernel } from "./gemm-simd.js";
import { broadcastIndex } from "./indexing-maps.js";
import type { KernelFactory } from "./types.js";

// Blocking of the SIMD path, in panels: a B micro-panel (KC x NR floats, 8 KiB) stays in L1 while
// the micro-kernel sweeps an A block of MC_PANELS panels (KC x MR each; 128 KiB in all) from L2.
const KC = 256;
const MC_PANELS = 32;
const NC_PANELS = 64;
const PACK_ROWS = 32;
/** Below this many multiply-adds the packing into WebAssembly memory costs more than it saves. */
const SIMD_MIN_WORK = 16 * 16 * 16;
/** The SIMD path packs A, B and C into WebAssembly memory; bigger problems are split or stay in JS. */
const MAX_SCRATCH_BYTES = 1 << 30;

/**
 * C += A B (or A B^T when transB) through the WebAssembly SIMD micro-kernel. A is packed into
 * ceil(m / MR) panels of k x MR floats, B into ceil(n / NR) panels of k x NR (zero-padded, so the
 * micro-kernel never sees a ragged edge), and C is copied into a padded m x n tile grid and back.
 */
function gemmSimd(a: Float32Array, aOff: number, b: Float32Array, bOff: number, c: Float32Array, cOff: number, m: number, n: number, k: number, transB: boolean): void {
  const kernel = simdKernel()!;
  const mp = Math.ceil(m / MR), np = Math.ceil(n / NR);
  const mPad = mp * MR, nPad = np * NR;
  const aBase = 0, bBase = mPad * k, cBase = bBase + nPad * k;
  const f = simdKernel()!.floats(cBase + mPad * nPad);

  // Pack A: panel ip holds rows ip*MR .. ip*MR+MR-1, stored k-major (MR floats per k).
  for (let ip = 0; ip < mp; ip++) {
    const panel = aBase + ip * k * MR;
    for (let r = 0; r < MR; r++) {
      const i = ip * MR + r;
      if (i < m) {
        const row = aOff + i * k;
        for (let p = 0; p < k; p++) f[panel + p * MR + r] = a[row + p]!;
      } else {
        for (let p = 0; p < k; p++) f[panel + p * MR + r] = 0;
      }
    }
  }
  // Pack B: panel jp holds columns jp*NR .. jp*NR+NR-1, stored k-major (NR floats per k).
  if (!transB) {
    // A strip of PACK_ROWS rows of B at a time, so the rows stay in cache while every panel takes its slice.
    for (let p0 = 0; p0 < k; p0 += PACK_ROWS) {
      const p1 = Math.min(k, p0 + PACK_ROWS);
      for (let jp = 0; jp < np; jp++) {
        const j0 = jp * NR, cols = Math.min(NR, n - j0);
        let o = bBase + (jp * k + p0) * NR;
        for (let p = p0; p < p1; p++, o += NR) {
          const row = bOff + p * n + j0;
          let j = 0;
          for (; j < cols; j++) f[o + j] = b[row + j]!;
          for (; j < NR; j++) f[o + j] = 0;
        }
      }
    }
  } else {
    // B is n x k: column j of B^T is row j of B, read contiguously.
    for (let jp = 0; jp < np; jp++) {
      const panel = bBase + jp * k * NR;
      for (let r = 0; r < NR; r++) {
        const j = jp * NR + r;
        if (j < n) {
          const row = bOff + j * k;
          for (let p = 0; p < k; p++) f[panel + p * NR + r] = b[row + p]!;
        } else {
          for (let p = 0; p < k; p++) f[panel + p * NR + r] = 0;
        }
      }
    }
  }
  // C in: the padded rows and columns start at zero and are never copied back.
  for (let i = 0; i < mPad; i++) {
    const dst = cBase + i * nPad;
    if (i < m) {
      const src = cOff + i * n;
      let j = 0;
      for (; j < n; j++) f[dst + j] = c[src + j]!;
      for (; j < nPad; j++) f[dst + j] = 0;
    } else {
      f.fill(0, dst, dst + nPad);
    }
  }

  const { micro } = kernel;
  const ldc = nPad * 4;
  for (let p0 = 0; p0 < k; p0 += KC) {
    const kc = Math.min(KC, k - p0);
    for (let j0 = 0; j0 < np; j0 += NC_PANELS) {
      const j1 = Math.min(np, j0 + NC_PANELS);
      for (let i0 = 0; i0 < mp; i0 += MC_PANELS) {
        const i1 = Math.min(mp, i0 + MC_PANELS);
        for (let jp = j0; jp < j1; jp++) {
          const pb = (bBase + (jp * k + p0) * NR) * 4;
          const pc = (cBase + jp * NR) * 4;
          for (let ip = i0; ip < i1; ip++) micro((aBase + (ip * k + p0) * MR) * 4, pb, pc + ip * MR * ldc, kc, ldc);
        }
      }
    }
  }

  for (let i = 0; i < m; i++) {
    const src = cBase + i * nPad, dst = cOff + i * n;
    for (let j = 0; j < n; j++) c[dst + j] = f[src + j]!;
  }
}

/**
 * The plain-JS path (small problems, or engines without WebAssembly SIMD): i-k-j, four rows at a
 * time. Rounding the product to float32 before the (float32-rounded) add reproduces f32x4.mul then
 * f32x4.add exactly, so both paths give the same bits.
 */
function gemmJs(a: Float32Array, aOff: number, b: Float32Array, bOff: number, c: Float32Array, cOff: number, m: number, n: number, k: number): void {
  const KB = 128;
  const NB = 512;
  for (let j0 = 0; j0 < n; j0 += NB) {
    const j1 = Math.min(n, j0 + NB);
    for (let p0 = 0; p0 < k; p0 += KB) {
      const p1 = Math.min(k, p0 + KB);
      let i = 0;
      for (; i + 3 < m; i += 4) {
        const c0 = cOff + i * n, c1 = c0 + n, c2 = c1 + n, c3 = c2 + n;
        const a0 = aOff + i * k, a1 = a0 + k, a2 = a1 + k, a3 = a2 + k;
        for (let p = p0; p < p1; p++) {
          const x0 = a[a0 + p]!, x1 = a[a1 + p]!, x2 = a[a2 + p]!, x3 = a[a3 + p]!;
          const bRow = bOff + p * n;
          for (let j = j0; j < j1; j++) {
            const y = b[bRow + j]!;
            c[c0 + j]! += Math.fround(x0 * y);
            c[c1 + j]! += Math.fround(x1 * y);
            c[c2 + j]! += Math.fround(x2 * y);
            c[c3 + j]! += Math.fround(x3 * y);
          }
        }
      }
      for (; i < m; i++) {
        const c0 = cOff + i * n;
        const a0 = aOff + i * k;
        for (let p = p0; p < p1; p++) {
          const x0 = a[a0 + p]!;
          const bRow = bOff + p * n;
          for (let j = j0; j < j1; j++) c[c0 + j]! += Math.fround(x0 * b[bRow + j]!);
        }
      }
    }
  }
}

/** JS path for A B^T: each C[i, j] is a dot product of two contiguous rows; four columns at a time for ILP. */
function gemmTransBJs(a: Float32Array, aOff: number, b: Float32Array, bOff: number, c: Float32Array, cOff: number, m: number, n: number, k: number): void {
  for (let i = 0; i < m; i++) {
    const ai = aOff + i * k, ci = cOff + i * n;
    let j = 0;
    for (; j + 3 < n; j += 4) {
      const b0 = bOff + j * k, b1 = b0 + k, b2 = b1 + k, b3 = b2 + k;
      let s0 = c[ci + j]!, s1 = c[ci + j + 1]!, s2 = c[ci + j + 2]!, s3 = c[ci + j + 3]!;
      for (let p = 0; p < k; p++) {
        const x = a[ai + p]!;
        s0 = Math.fround(s0 + Math.fround(x * b[b0 + p]!));
        s1 = Math.fround(s1 + Math.fround(x * b[b1 + p]!));
        s2 = Math.fround(s2 + Math.fround(x * b[b2 + p]!));
        s3 = Math.fround(s3 + Math.fround(x * b[b3 + p]!));
      }
      c[ci + j] = s0;
      c[ci + j + 1] = s1;
      c[ci + j + 2] = s2;
      c[ci + j + 3] = s3;
    }
    for (; j < n; j++) {
      const bj = bOff + j * k;
      let s = c[ci + j]!;
      for (let p = 0; p < k; p++) s = Math.fround(s + Math.fround(a[ai + p]! * b[bj + p]!));
      c[ci + j] = s;
    }
  }
}

function gemmAny(a: Float32Array, aOff: number, b: Float32Array, bOff: number, c: Float32Array, cOff: number, m: number, n: number, k: number, transB: boolean): void {
  if (m === 0 || n === 0 || k === 0) return;
  // Skinny products (m or n below a tile: matrix-vector, one-token decode) would spend more time
  // packing B than multiplying, so they stay in JS along with tiny ones.
  if (m >= 2 * MR && n >= NR / 2 && m * n * k >= SIMD_MIN_WORK && simdKernel() !== null) {
    const mPad = Math.ceil(m / MR) * MR, nPad = Math.ceil(n / NR) * NR;
    const bytes = (mPad * k + nPad * k + mPad * nPad) * 4;
    if (bytes <= MAX_SCRATCH_BYTES) return gemmSimd(a, aOff, b, bOff, c, cOff, m, n, k, transB);
    // Too big for one pass: rows of A and C are independent, so halve m (same per-element sums).
    if (m >= 2 * MR && nPad * k * 4 < MAX_SCRATCH_BYTES / 2) {
      const top = Math.ceil(m / 2 / MR) * MR;
      gemmAny(a, aOff, b, bOff, c, cOff, top, n, k, transB);
      gemmAny(a, aOff + top * k, b, bOff, c, cOff + top * n, m - top, n, k, transB);
      return;
    }
  }
  if (transB) gemmTransBJs(a, aOff, b, bOff, c, cOff, m, n, k);
  else gemmJs(a, aOff, b, bOff, c, cOff, m, n, k);
}

/**
 * C[m, n] += sum_k A[m, k] B[k, n] for one matrix of a batch (row-major, at the given offsets); the
 * matmul kernel passes a zeroed C. Products with m >= 8, n >= 4 and at least 16^3 multiply-adds
 * run on a WebAssembly SIMD micro-kernel (4 x 8 register tile, packed A and B panels, k blocked by
 * 256); smaller or skinnier ones, and engines without SIMD, use cache-blocked JS loops. Every path
 * gives the same bits: each C element is summed over k in ascending order, with the product and
 * each partial sum rounded to float32.
 */
export function gemm(a: Float32Array, aOff: number, b: Float32Array, bOff: number, c: Float32Array, cOff: number, m: number, n: number, k: number): void {
  gemmAny(a, aOff, b, bOff, c, cOff, m, n, k, false);
}

/**
 * C[m, n] += sum_k A[m, k] B[n, k]: gemm with B transposed (B stored n x k, as a linear layer's
 * weight is), without materialising the transpose. Same paths and guarantees as gemm.
 */
export function gemmTransB(a: Float32Array, aOff: number, b: Float32Array, bOff: number, c: Float32Array, cOff: number, m: number, n: number, k: number): void {
  gemmAny(a, aOff, b, bOff, c, cOff, m, n, k, true);
}

/** The textbook triple loop, kept as the benchmark's baseline and the tests' oracle. */
export function naiveGemm(a: Float32Array, b: Float32Array, c: Float32Array, m: number, n: number, k: number): void {
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[i * k + p]! * b[p * n + j]!;
      c[i * n + j] = s;
    }
}

/**
 * Batched matmul. With `attrs.transB` (set by `foldTransposes`), the second input is stored
 * [..., N, K] and read transposed, so `x @ W^T` never materialises W^T.
 */
export const matmulKernel: KernelFactory = (node, [a, b]) => {
  const transB = node.attrs.transB === true;
  const [m, k] = a!.shape.slice(-2) as [number, number];
  const n = node.shape[node.shape.length - 1]!;
  const batchShape = node.shape.slice(0, -2);
  // Offsets of each batch's matrix in A and B (broadcast batches share a matrix).
  const aBatch = broadcastIndex(a!.shape.slice(0, -2), batchShape);
  const bBatch = broadcastIndex(b!.shape.slice(0, -2), batchShape);
  const batches = numel(batchShape);
  const multiply = transB ? gemmTransB : gemm;
  // One matrix B shared by every batch of A (a linear layer's weight, x [B, T, K] @ W): the batches
  // are just more rows of one product, [B·T, K] @ W, which the SIMD path takes even when T = 1 (a
  // decoding step of B sequences). Each element is the same sum, so the bits do not change.
  const rowsOfOne = batches > 1 && bBatch.every((i) => i === 0) && aBatch.every((i, t) => i === t);
  // A batch of matrix-vector products, each batch its own matrix and vector (Mamba's read-out
  // y = h C): one WebAssembly call for all of them, where JS would pay Math.fround per term.
  const matvecs =
    n === 1 && batches * m * k > 0 && aBatch.every((i, t) => i === t) && bBatch.every((i, t) => i === t) && batches * (m * k + k + m) * 4 <= MAX_SCRATCH_BYTES && simdKernel() !== null;
  return ([x, y], alloc) => {
    const c = alloc("float32", batches * m * n) as Float32Array;
    if (matvecs) {
      const f = simdKernel()!.floats(batches * (m * k + k + m));
      const [aBase, bBase, cBase] = [0, batches * m * k, batches * (m * k + k)];
      f.set(x!.data as Float32Array, aBase);
      f.set(y!.data as Float32Array, bBase);
      simdKernel()!.matvecs(4 * aBase, 4 * bBase, 4 * cBase, batches, m, k);
      c.set(f.subarray(cBase, cBase + batches * m));
      return new Tensor(c, node.shape, "float32");
    }
    c.fill(0);
    if (rowsOfOne) multiply(x!.data as Float32Array, 0, y!.data as Float32Array, 0, c, 0, batches * m, n, k);
    else for (let t = 0; t < batches; t++) multiply(x!.data as Float32Array, aBatch[t]! * m * k, y!.data as Float32Array, bBatch[t]! * k * n, c, t * m * n, m, n, k);
    return new Tensor(c, node.shape, "float32");
  };
};
