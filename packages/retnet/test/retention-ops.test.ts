import { CpuBackend } from "@densessm/backend-cpu";
import { CausalLM, conformanceOps, gradients, lower, Session, trace, type Graph } from "@densessm/core";
import { describe, expect, it } from "vitest";
import { chunkwiseRetention, parallelRetention, retentionConformance, retentionStep } from "../src/index.js";
import { tinyConfig } from "./helpers.js";

const cpu = new CpuBackend();
const session = new Session(cpu);

describe("retention ops conformance on cpu", () => {
  for (const c of retentionConformance()) it(c.name, () => c.run(session));

  it("covers every retnet op backend-cpu runs as a kernel (its own suite cannot import this package)", () => {
    const kernels = [...cpu.capabilities.ops].filter((op) => op.startsWith("retnet."));
    expect(kernels).toContain("retnet.retentionStep");
    const covered = conformanceOps(retentionConformance());
    expect(kernels.filter((op) => !covered.has(op))).toEqual([]);
  });
});

describe("retention ops check their inputs at trace time", () => {
  const traced = (kShape: number[], gammas: number[], chunkSize = 2) =>
    trace(({ q, k, v }) => ({ p: parallelRetention(q!, k!, v!, { gammas }), c: chunkwiseRetention(q!, k!, v!, { gammas, chunkSize }) }), {
      inputs: { q: { shape: [1, 2, 3, 4] }, k: { shape: kShape }, v: { shape: [1, 2, 3, 5] } },
    });
  it("accepts dk ≠ dv and returns [B, L, H, dv]", () => {
    const g = traced([1, 2, 3, 4], [0.5, 0.75]);
    expect(g.outputs.map((o) => g.nodes[o.id]!.shape)).toEqual([[1, 3, 2, 5], [1, 3, 2, 5]]);
  });
  it("rejects k of another shape, a decay count other than the heads, decays outside (0, 1) and chunk size 0", () => {
    expect(() => traced([1, 2, 3, 5], [0.5, 0.75])).toThrow(/expected q, k \[B, H, L, dk\]/);
    expect(() => traced([1, 2, 3, 4], [0.5])).toThrow(/1 decays for 2 heads/);
    expect(() => traced([1, 2, 3, 4], [0.5, 1 - 1e-9])).toThrow(/\(0, 1\) as a float32/);
    expect(() => traced([1, 2, 3, 4], [0.5, 0.75], 0)).toThrow(/chunk size must be a positive integer/);
  });
});

describe("retnet.retentionStep checks its inputs at trace time", () => {
  const traced = (shapes: { k?: number[]; v?: number[]; state?: number[]; carry?: number[] }, carryDtype: "float32" | "int32" = "float32") =>
    trace(({ k, v, state, carry }) => ({ s: retentionStep(k!, v!, state!, carry!) }), {
      inputs: {
        k: { shape: shapes.k ?? [2, 3, 1, 4] },
        v: { shape: shapes.v ?? [2, 3, 1, 5] },
        state: { shape: shapes.state ?? [2, 3, 4, 5] },
        carry: { shape: shapes.carry ?? [2, 3], dtype: carryDtype },
      },
    });
  it("returns the state's shape", () => {
    const g = traced({});
    expect(g.nodes[g.outputs[0]!.id]!.shape).toEqual([2, 3, 4, 5]);
  });
  it("rejects more than one token, a state of another size, a carry per step and an integer carry", () => {
    expect(() => traced({ k: [2, 3, 2, 4], v: [2, 3, 2, 5] })).toThrow(/retnet.retentionStep: expected k \[B, H, 1, dk\]/);
    expect(() => traced({ state: [2, 3, 5, 4] })).toThrow(/got \[2, 3, 1, 4\], \[2, 3, 1, 5\], \[2, 3, 5, 4\], \[2, 3\]/);
    expect(() => traced({ carry: [2, 1, 3] })).toThrow(/carry \[B, H\]/);
    expect(() => traced({}, "int32")).toThrow(/share one float dtype/);
  });
});

describe("retention ops in a model's graphs", () => {
  // 3 layers, 2 heads, dense connection to 1 earlier layer.
  const lm = CausalLM.fromConfig(tinyConfig({ num_hidden_layers: 3 }), { seed: 1 });
  const count = (g: Graph, op: string) => g.nodes.filter((n) => n.op === op).length;
  const constantsShaped = (g: Graph, shape: number[]) => g.nodes.filter((n) => n.op === "const" && n.shape.join() === shape.join()).length;

  it("parallel: one node per layer, and decomposed, every layer reads one decay mask", () => {
    const g = lm.sequenceGraph(1, 6, "parallel");
    expect(count(g, "retnet.parallelRetention")).toBe(3);
    expect(count(g, "fusion.denseFusion")).toBe(4); // k and v of layers 1 and 2
    const lowered = lower(g, (op) => cpu.capabilities.ops.has(op));
    expect(count(lowered, "retnet.parallelRetention")).toBe(0);
    expect(constantsShaped(lowered, [2, 6, 6])).toBe(1);
  });

  it("training: the lowered gradient graph of the parallel loss still reads one decay mask", () => {
    const g = lower(gradients(lm.lossGraph(1, 6), { loss: "loss" }), (op) => cpu.capabilities.ops.has(op));
    expect(count(g, "retnet.parallelRetention")).toBe(0);
    expect(constantsShaped(g, [2, 6, 6])).toBe(1);
  });

  it("chunkwise: one node per layer, and decomposed, every layer reads one set of decay constants", () => {
    const g = lm.sequenceGraph(1, 7, "chunkwise", 3);
    expect(count(g, "retnet.chunkwiseRetention")).toBe(3);
    const lowered = lower(g, (op) => cpu.capabilities.ops.has(op));
    expect(constantsShaped(lowered, [2, 1, 3, 3])).toBe(1); // the intra-chunk decay
    expect(constantsShaped(lowered, [2, 3, 3, 1])).toBe(1); // 1/sqrt(c_t) over 3 chunks of 3
  });

  it("decoding step: one retentionStep node per layer, which backend-cpu keeps for its kernel", () => {
    const g = lm.chunkGraph(2, 1);
    expect(count(g, "retnet.retentionStep")).toBe(3);
    expect(count(g, "scan")).toBe(0);
    expect(count(lower(g, (op) => cpu.capabilities.ops.has(op)), "retnet.retentionStep")).toBe(3);
  });
});
