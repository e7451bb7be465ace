// What the GPU backends' tests share (this package's on the interpreter, backend-webgpu's and
// backend-cuda's on devices): inputs, graphs of one expression, and comparison with backend-cpu.
import { CpuBackend } from "@densessm/backend-cpu";
import { Rng, Session, Tensor, trace, type Graph, type SymTensor } from "@densessm/core";
import { expect } from "vitest";

export const cpu = new Session(new CpuBackend());

const rng = new Rng(7);
export const randn = (shape: number[], lo = -1, hi = 1): Tensor =>
  Tensor.float32(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => lo + (hi - lo) * rng.uniform()), shape);

/** A graph of `fn` over inputs named x0, x1, ... with the given tensors' types. */
export function graphOf(fn: (xs: SymTensor[]) => SymTensor, inputs: readonly Tensor[]): Graph {
  return trace((xs) => ({ y: fn(inputs.map((_, i) => xs[`x${i}`]!)) }), {
    inputs: Object.fromEntries(inputs.map((t, i) => [`x${i}`, { shape: t.shape, dtype: t.dtype }])),
  });
}

export const feedsOf = (inputs: readonly Tensor[]) => Object.fromEntries(inputs.map((t, i) => [`x${i}`, t]));

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  // Equal values (infinities included) differ by 0; a NaN anywhere else makes the result NaN.
  for (let i = 0; i < a.length; i++) m = Math.max(m, a[i] === b[i] ? 0 : Math.abs(a[i]! - b[i]!));
  return m;
}

/** Runs `fn` on backend-cpu and on `session`, and checks that they agree to `tol` (relative to the largest value). */
export async function agreeOn(session: Session, fn: (xs: SymTensor[]) => SymTensor, inputs: Tensor[], tol = 1e-5): Promise<void> {
  const g = graphOf(fn, inputs);
  const [want, got] = [(await cpu.run(g, feedsOf(inputs))).y!, (await session.run(g, feedsOf(inputs))).y!];
  expect(got.shape).toEqual(want.shape);
  expect(got.dtype).toBe(want.dtype);
  const scale = Math.max(1, ...Array.from(want.toFloat32(), Math.abs).filter(Number.isFinite));
  expect(maxAbsDiff(got.toFloat32(), want.toFloat32())).toBeLessThanOrEqual(tol * scale);
}
