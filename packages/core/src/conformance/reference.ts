import { numel, stridesOf, type Shape } from "../tensor/shape.js";

// Deliberately naive float64 references for the conformance suite: index arithmetic spelled out,
// no cleverness, so a reader can check each one against the op's documented meaning.

/** A float64 reference value: row-major data and its shape. */
export interface Ref {
  shape: number[];
  data: number[];
}

export const ref = (shape: Shape, data: ArrayLike<number>): Ref => ({ shape: [...shape], data: Array.from(data) });

/** Multi-index of flat position i in a row-major shape. */
export function unravel(i: number, shape: Shape): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d]!;
    i = Math.floor(i / shape[d]!);
  }
  return idx;
}

export function ravel(idx: readonly number[], shape: Shape): number {
  const strides = stridesOf(shape);
  return idx.reduce((acc, v, d) => acc + v * strides[d]!, 0);
}

export function broadcastRef(refs: readonly Ref[], f: (...xs: number[]) => number): Ref {
  const rank = Math.max(...refs.map((r) => r.shape.length));
  const shape = Array.from({ length: rank }, (_, d) => Math.max(...refs.map((r) => r.shape[r.shape.length - rank + d] ?? 1)));
  const data = Array.from({ length: numel(shape) }, (_, i) => {
    const idx = unravel(i, shape);
    return f(...refs.map((r) => r.data[ravel(idx.slice(rank - r.shape.length).map((v, d) => (r.shape[d] === 1 ? 0 : v)), r.shape)]!));
  });
  return { shape, data };
}

export function reduceRef(x: Ref, axes: readonly number[], keepdims: boolean, init: number, f: (acc: number, v: number) => number): Ref {
  const keptShape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const acc = new Array<number>(numel(keptShape)).fill(init);
  x.data.forEach((v, i) => {
    const idx = unravel(i, x.shape).map((v2, d) => (axes.includes(d) ? 0 : v2));
    const j = ravel(idx, keptShape);
    acc[j] = f(acc[j]!, v);
  });
  return { shape: keepdims ? keptShape : x.shape.filter((_, i) => !axes.includes(i)), data: acc };
}

export function matmulRef(a: Ref, b: Ref): Ref {
  const [m, k] = a.shape.slice(-2) as [number, number];
  const n = b.shape[b.shape.length - 1]!;
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const rank = Math.max(batchA.length, batchB.length);
  const batch = Array.from({ length: rank }, (_, d) => Math.max(batchA[batchA.length - rank + d] ?? 1, batchB[batchB.length - rank + d] ?? 1));
  const shape = [...batch, m, n];
  const data = Array.from({ length: numel(shape) }, (_, i) => {
    const idx = unravel(i, shape);
    const bi = idx.slice(0, rank);
    const [r, c] = idx.slice(rank) as [number, number];
    const pick = (bs: number[]) => bi.slice(rank - bs.length).map((v, d) => (bs[d] === 1 ? 0 : v));
    let s = 0;
    for (let p = 0; p < k; p++) s += a.data[ravel([...pick(batchA), r, p], a.shape)]! * b.data[ravel([...pick(batchB), p, c], b.shape)]!;
    return s;
  });
  return { shape, data };
}

export function permuteRef(x: Ref, perm: readonly number[]): Ref {
  const shape = perm.map((p) => x.shape[p]!);
  const data = Array.from({ length: numel(shape) }, (_, i) => {
    const idx = unravel(i, shape);
    const src = new Array<number>(x.shape.length);
    perm.forEach((p, d) => (src[p] = idx[d]!));
    return x.data[ravel(src, x.shape)]!;
  });
  return { shape, data };
}

export function scanRef(a: Ref, b: Ref, axis: number, reverse: boolean, h0?: Ref): Ref {
  const out = new Array<number>(a.data.length).fill(0);
  const steps = a.shape[axis]!;
  a.data.forEach((_, i) => {
    const idx = unravel(i, a.shape);
    if (idx[axis] !== 0) return; // one walk per line along the axis
    const lineIdx = idx.filter((_, d) => d !== axis);
    let h = h0 ? h0.data[ravel(lineIdx, h0.shape)]! : 0;
    for (let s = 0; s < steps; s++) {
      const t = reverse ? steps - 1 - s : s;
      const j = ravel(idx.map((v, d) => (d === axis ? t : v)), a.shape);
      h = a.data[j]! * h + b.data[j]!;
      out[j] = h;
    }
  });
  return { shape: a.shape, data: out };
}
