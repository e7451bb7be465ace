import { init, ops, Rng, Session, Tensor, trace } from "@densessm/core";
import { describe, expect, it } from "vitest";
import { CpuBackend } from "../src/index.js";
import { gemm, gemmTransB, naiveGemm } from "../src/kernels/matmul.js";

/** Seeded uniform floats in [-1, 1), so runs and failures reproduce. */
const random = (length: number, seed: number): Float32Array => init.uniform([length], -1, 1, new Rng(seed)).data as Float32Array;

/** float64 reference and, per element, sum_k |a b| (the scale that rounding error is relative to). */
function reference64(a: Float32Array, b: Float32Array, m: number, n: number, k: number): { c: Float64Array; scale: Float64Array } {
  const c = new Float64Array(m * n), scale = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0, t = 0;
      for (let p = 0; p < k; p++) {
        const x = a[i * k + p]! * b[p * n + j]!;
        s += x;
        t += Math.abs(x);
      }
      c[i * n + j] = s;
      scale[i * n + j] = t;
    }
  return { c, scale };
}

/** The float32 semantics gemm promises: sum over k in ascending order, product and sum each rounded to float32. */
function referenceF32(a: Float32Array, b: Float32Array, m: number, n: number, k: number): Float32Array {
  const c = new Float32Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s = Math.fround(s + Math.fround(a[i * k + p]! * b[p * n + j]!));
      c[i * n + j] = s;
    }
  return c;
}

function transpose(b: Float32Array, k: number, n: number): Float32Array {
  const t = new Float32Array(k * n);
  for (let p = 0; p < k; p++) for (let j = 0; j < n; j++) t[j * k + p] = b[p * n + j]!;
  return t;
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, scale: ArrayLike<number>, rtol: number): void {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i]! - expected[i]!) / Math.max(scale[i]!, 1e-30);
    worst = Math.max(worst, err);
  }
  expect(worst).toBeLessThanOrEqual(rtol);
}

const SHAPES: [m: number, n: number, k: number][] = [
  [1, 1, 1], [3, 5, 7], [4, 8, 16], [17, 33, 65], [128, 1, 64], [1, 256, 300], [64, 64, 64], [8, 4, 128], [37, 300, 513], [260, 9, 3], [2, 1000, 700],
];

describe("gemm", () => {
  for (const [m, n, k] of SHAPES) {
    it(`${m}x${n}x${k} matches the float64 reference and naiveGemm to 1e-5, and the float32 reference exactly`, () => {
      const a = random(m * k, m * 7919 + k), b = random(k * n, n * 104729 + k);
      const c = new Float32Array(m * n);
      gemm(a, 0, b, 0, c, 0, m, n, k);
      const { c: c64, scale } = reference64(a, b, m, n, k);
      expectClose(c, c64, scale, 1e-5);
      const naive = new Float32Array(m * n);
      naiveGemm(a, b, naive, m, n, k);
      expectClose(c, naive, scale, 1e-5);
      expect(c).toEqual(referenceF32(a, b, m, n, k));
    });
  }

  it("gemmTransB gives the same bits as gemm on the materialised transpose", () => {
    for (const [m, n, k] of SHAPES) {
      const a = random(m * k, 11 + m), b = random(k * n, 13 + n);
      const c = new Float32Array(m * n), ct = new Float32Array(m * n);
      gemm(a, 0, b, 0, c, 0, m, n, k);
      gemmTransB(a, 0, transpose(b, k, n), 0, ct, 0, m, n, k);
      expect(ct).toEqual(c);
    }
  });

  it("accumulates into C and honours the offsets", () => {
    const [m, n, k] = [9, 13, 21];
    const a = random(5 + m * k, 1), b = random(3 + k * n, 2);
    const c = random(7 + m * n, 3);
    const before = c.slice();
    gemm(a, 5, b, 3, c, 7, m, n, k);
    expect(c.subarray(0, 7)).toEqual(before.subarray(0, 7));
    const prod = referenceF32(a.subarray(5), b.subarray(3), m, n, k);
    for (let i = 0; i < m * n; i++) expect(Math.abs(c[7 + i]! - (before[7 + i]! + prod[i]!))).toBeLessThan(1e-5);
  });

  it("is deterministic run to run", () => {
    const [m, n, k] = [70, 90, 600];
    const a = random(m * k, 5), b = random(k * n, 6);
    const c1 = new Float32Array(m * n), c2 = new Float32Array(m * n);
    gemm(a, 0, b, 0, c1, 0, m, n, k);
    gemm(random(10_000, 9), 0, random(10_000, 10), 0, new Float32Array(10_000), 0, 100, 100, 100); // disturb the scratch
    gemm(a, 0, b, 0, c2, 0, m, n, k);
    expect(c2).toEqual(c1);
  });

  it("handles empty dimensions", () => {
    const c = new Float32Array([1, 2]);
    gemm(new Float32Array(0), 0, new Float32Array(0), 0, c, 0, 1, 2, 0);
    expect(Array.from(c)).toEqual([1, 2]);
  });
});

describe("matmul kernel", () => {
  it("broadcasts batch dimensions: [2,1,17,33] @ [3,33,10] -> [2,3,17,10]", async () => {
    const [m, k, n] = [17, 33, 10];
    const g = trace(({ x, w }) => ({ y: ops.matmul(x!, w!) }), {
      inputs: { x: { shape: [2, 1, m, k] }, w: { shape: [3, k, n] } },
    });
    const xs = random(2 * m * k, 21), ws = random(3 * k * n, 22);
    const s = new Session(new CpuBackend());
    const out = await s.run(g, { x: Tensor.float32(xs, [2, 1, m, k]), w: Tensor.float32(ws, [3, k, n]) });
    const y = out.y!;
    expect(y.shape).toEqual([2, 3, m, n]);
    const data = y.data as Float32Array;
    for (let bi = 0; bi < 2; bi++)
      for (let bj = 0; bj < 3; bj++) {
        const expected = referenceF32(xs.subarray(bi * m * k, (bi + 1) * m * k), ws.subarray(bj * k * n, (bj + 1) * k * n), m, n, k);
        const t = bi * 3 + bj;
        expect(data.subarray(t * m * n, (t + 1) * m * n)).toEqual(expected);
      }
  });

  it("runs x [B, 1, K] @ W (a decoding step of B sequences) as one product of B rows, with each row's own bits", async () => {
    const [b, k, n] = [64, 40, 24];
    const g = trace(({ x, w }) => ({ y: ops.matmul(x!, w!) }), { inputs: { x: { shape: [b, 1, k] }, w: { shape: [k, n] } } });
    const xs = random(b * k, 31), ws = random(k * n, 32);
    const y = (await new Session(new CpuBackend()).run(g, { x: Tensor.float32(xs, [b, 1, k]), w: Tensor.float32(ws, [k, n]) })).y!;
    expect(y.shape).toEqual([b, 1, n]);
    expect(y.data).toEqual(referenceF32(xs, ws, b, n, k));
  });
});

describe("batched matrix-vector products", () => {
  it("h [B, T, E, N] @ C [B, T, N, 1] (Mamba's read-out) gives each batch's float32-reference bits", async () => {
    const [b, t, e, n] = [5, 3, 24, 16];
    const g = trace(({ h, c }) => ({ y: ops.matmul(h!, c!) }), { inputs: { h: { shape: [b, t, e, n] }, c: { shape: [b, t, n, 1] } } });
    const hs = random(b * t * e * n, 41), cs = random(b * t * n, 42);
    const y = (await new Session(new CpuBackend()).run(g, { h: Tensor.float32(hs, [b, t, e, n]), c: Tensor.float32(cs, [b, t, n, 1]) })).y!;
    expect(y.shape).toEqual([b, t, e, 1]);
    for (let i = 0; i < b * t; i++) expect((y.data as Float32Array).subarray(i * e, (i + 1) * e)).toEqual(referenceF32(hs.subarray(i * e * n, (i + 1) * e * n), cs.subarray(i * n, (i + 1) * n), e, 1, n));
  });
});

describe("foldTransposes", () => {
  it("reads W untransposed in x @ W^T and drops the transpose", async () => {
    
    const { foldTransposes } = await import("@densessm/core");
    const g = trace(({ x, w }) => ({ y: x!.matmul(w!.transpose()) }), { inputs: { x: { shape: [3, 4] }, w: { shape: [5, 4] } } });
    const folded = foldTransposes(g);
    expect(folded.nodes.map((n) => n.op)).toEqual(["input", "input", "matmul"]);
    expect(folded.nodes[2]!.attrs.transB).toBe(true);
  });
});
