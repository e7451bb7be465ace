import { broadcastShapes, numel, Tensor } from "@densessm/core";
import { broadcastIndex } from "./indexing-maps.js";
import type { KernelFactory } from "./types.js";

/**
 * C[m, n] = sum_k A[m, k] B[k, n] for one matrix of a batch, accumulating into zeroed C.
 * Cache-blocked over k and n, and register-tiled four rows at a time in i-k-j order so the inner
 * loop streams contiguous rows of B and C (which V8 compiles to tight scalar loops).
 */
export function gemm(a: Float32Array, aOff: number, b: Float32Array, bOff: number, c: Float32Array, cOff: number, m: number, n: number, k: number): void {
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
            c[c0 + j]! += x0 * y;
            c[c1 + j]! += x1 * y;
            c[c2 + j]! += x2 * y;
            c[c3 + j]! += x3 * y;
          }
        }
      }
      for (; i < m; i++) {
        const c0 = cOff + i * n;
        const a0 = aOff + i * k;
        for (let p = p0; p < p1; p++) {
          const x0 = a[a0 + p]!;
          const bRow = bOff + p * n;
          for (let j = j0; j < j1; j++) c[c0 + j]! += x0 * b[bRow + j]!;
        }
      }
    }
  }
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

export const matmulKernel: KernelFactory = (node, [a, b]) => {
  const [m, k] = a!.shape.slice(-2) as [number, number];
  const n = b!.shape[b!.shape.length - 1]!;
  const batchShape = broadcastShapes(a!.shape.slice(0, -2), b!.shape.slice(0, -2), "matmul");
  // Offsets of each batch's matrix in A and B (broadcast batches share a matrix).
  const aBatch = broadcastIndex(a!.shape.slice(0, -2), batchShape);
  const bBatch = broadcastIndex(b!.shape.slice(0, -2), batchShape);
  const batches = numel(batchShape);
  return ([x, y], alloc) => {
    const c = alloc("float32", batches * m * n) as Float32Array;
    c.fill(0);
    for (let t = 0; t < batches; t++) gemm(x!.data as Float32Array, aBatch[t]! * m * k, y!.data as Float32Array, bBatch[t]! * k * n, c, t * m * n, m, n, k);
    return new Tensor(c, node.shape, "float32");
  };
};
