import { CpuBackend } from "@densessm/backend-cpu";
import { conformanceOps, lower, Rng, Session, Tensor, trace } from "@densessm/core";
import { describe, expect, it } from "vitest";
import { selectiveScan, selectiveScanConformance } from "../src/index.js";

const cpu = new CpuBackend();
const session = new Session(cpu);

describe("mamba.selectiveScan conformance on cpu", () => {
  for (const c of selectiveScanConformance()) it(c.name, () => c.run(session));

  it("covers every mamba op backend-cpu runs as a kernel (its own suite cannot import this package)", () => {
    const kernels = [...cpu.capabilities.ops].filter((op) => op.startsWith("mamba."));
    expect(kernels).toContain("mamba.selectiveScan");
    const covered = conformanceOps(selectiveScanConformance());
    expect(kernels.filter((op) => !covered.has(op))).toEqual([]);
  });
});

describe("mamba.selectiveScan", () => {
  const rng = new Rng(7);
  const uniform = (shape: number[], lo: number, hi: number) => Tensor.float32(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => lo + (hi - lo) * rng.uniform()), shape);

  it.each([
    ["a decoding step of 8 rows", 8, 1, 8, true],
    ["a chunk of 6 tokens from zeros", 2, 6, 8, false],
    ["a decoding step with N = 6 (backend-cpu's JS path)", 4, 1, 6, true],
  ] as const)("backend-cpu's kernel agrees with the decomposition to 1e-6: %s", async (_, batch, len, n, withH0) => {
    const e = 16;
    const feeds: Record<string, Tensor> = {
      delta: uniform([batch, len, e], 0.01, 2),
      A: uniform([e, n], -16, -1),
      B: uniform([batch, len, n], -1, 1),
      x: uniform([batch, len, e], -3, 3),
      ...(withH0 ? { h0: uniform([batch, e, n], -1, 1) } : {}),
    };
    const shapes = Object.fromEntries(Object.entries(feeds).map(([name, t]) => [name, { shape: [...t.shape] }]));
    const g = trace(({ delta, A, B, x, h0 }) => ({ h: selectiveScan({ delta: delta!, A: A!, B: B!, x: x!, h0 }) }), { inputs: shapes });
    const fused = (await session.run(g, feeds)).h!;
    const decomposed = (await session.run(lower(g, (op) => op !== "mamba.selectiveScan"), feeds)).h!;
    expect(lower(g, (op) => cpu.capabilities.ops.has(op)).nodes.some((node) => node.op === "mamba.selectiveScan")).toBe(true);
    expect(fused.shape).toEqual([batch, len, e, n]);
    const worst = Math.max(...Array.from(fused.data, (v, i) => Math.abs(v - decomposed.data[i]!) / Math.max(1, Math.abs(decomposed.data[i]!))));
    expect(worst).toBeLessThan(1e-6);
  });

  it("names the mismatch when the inputs' shapes disagree", () => {
    const inputs = { delta: { shape: [2, 3, 4] }, A: { shape: [4, 5] }, B: { shape: [2, 3, 6] }, x: { shape: [2, 3, 4] } };
    expect(() => trace(({ delta, A, B, x }) => ({ h: selectiveScan({ delta: delta!, A: A!, B: B!, x: x! }) }), { inputs })).toThrow(/mamba\.selectiveScan: expected delta \[B, T, E\], A \[E, N\], B \[B, T, N\].*got \[2, 3, 4\], \[4, 5\], \[2, 3, 6\]/);
  });
});
