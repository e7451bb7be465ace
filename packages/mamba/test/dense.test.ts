import { describe, expect, it } from "vitest";
import { CausalLM, Rng } from "@densessm/core";
import type { DenseOptions, MambaConfigOptions } from "../src/index.js";
import { amplifySsmPath, asDense, cpuSession, createMamba, FIXTURE, flat, loadCase, maxAbsDiff } from "./helpers.js";

/** Random ids [B][L] in [0, vocab). */
function randomIds(rng: Rng, batch: number, length: number, vocab: number): number[][] {
  return Array.from({ length: batch }, () => Array.from({ length }, () => Math.floor(rng.uniform() * vocab)));
}

const tiny = (dense: Partial<DenseOptions>, extra: Partial<MambaConfigOptions> = {}): MambaConfigOptions => ({
  dModel: 8,
  nLayer: 3,
  vocabSize: 13,
  padVocabSizeMultiple: 1,
  dState: 4,
  dConv: 3,
  // Wider dt than the default init, so long sequences actually exercise long memory.
  dtMin: 0.001,
  dtMax: 0.5,
  dense: { gateInit: "default", gateMidRatio: 2, ...dense },
  ...extra,
});

describe("DenseMamba", () => {
  it("with zero fusion gates reproduces Mamba exactly (fixture weights)", async () => {
    const c = loadCase();
    const s = cpuSession();
    const mamba = await CausalLM.fromPretrained(FIXTURE);
    for (const dense of [{}, { gate: "state" as const, projection: "linear" as const }, { fuse: "input" as const, projection: "mlp" as const }]) {
      const model = await CausalLM.fromPretrained(FIXTURE, asDense(dense));
      expect(model.module.numParameters()).toBeGreaterThan(mamba.module.numParameters());
      for (const mode of ["parallel", "recurrent"] as const) {
        const a = flat(await model.logits(s, c.input_ids, mode));
        const b = flat(await mamba.logits(cpuSession(), c.input_ids, mode));
        expect(maxAbsDiff(a, b)).toBe(0);
      }
    }
  });

  it("with non-zero gates differs from Mamba", async () => {
    const c = loadCase();
    const model = await CausalLM.fromPretrained(FIXTURE, asDense({ gateInit: "default", gateMidRatio: 4 }));
    const a = flat(await model.logits(cpuSession(), c.input_ids, "parallel"));
    expect(maxAbsDiff(a, c.logits_parallel.flat(2))).toBeGreaterThan(1e-3);
  });

  it("full-sequence equals recurrent for L = 1024 (default options, non-zero gates)", async () => {
    const model = createMamba(tiny({}), 1);
    amplifySsmPath(model, new Rng(9));
    const ids = randomIds(new Rng(2), 2, 1024, 13);
    const s = cpuSession();
    const parallel = flat(await model.logits(s, ids, "parallel"));
    // The dense path matters in this model: zeroing the gates changes the logits.
    const plain = createMamba(tiny({}), 1);
    amplifySsmPath(plain, new Rng(9));
    for (const [name, p] of plain.module.namedParameters()) if (name.endsWith("select.fc2.weight")) p.value.data.fill(0);
    expect(maxAbsDiff(parallel, flat(await plain.logits(cpuSession(), ids, "parallel")))).toBeGreaterThan(1e-2);
    const recurrent = flat(await model.logits(s, ids, "recurrent"));
    const chunkwise = flat(await model.logits(s, ids, "chunkwise"));
    expect(maxAbsDiff(parallel, recurrent)).toBeLessThanOrEqual(1e-4);
    expect(maxAbsDiff(parallel, chunkwise)).toBeLessThanOrEqual(1e-4);
  });

  const variants: [string, Partial<DenseOptions>][] = [
    ["per-state gate, linear projection", { gate: "state", projection: "linear" }],
    ["MLP projection, m = 1", { projection: "mlp", projMidRatio: 2, m: 1 }],
    ["input fusion (x before the scan)", { fuse: "input", projection: "linear" }],
  ];
  for (const [name, dense] of variants) {
    it(`full-sequence equals recurrent: ${name}`, async () => {
      const model = createMamba(tiny(dense, { scanChunkSize: 16 }), 3);
      amplifySsmPath(model, new Rng(10));
      const ids = randomIds(new Rng(4), 2, 100, 13);
      const s = cpuSession();
      const parallel = flat(await model.logits(s, ids, "parallel"));
      expect(maxAbsDiff(parallel, flat(await model.logits(s, ids, "recurrent")))).toBeLessThanOrEqual(1e-4);
    });
  }

  it("keeps per-layer fusion parameters under state-spaces names", () => {
    const model = createMamba(tiny({ m: 2, projection: "linear" }));
    const names = model.module.namedParameters().map(([n]) => n);
    expect(names.filter((n) => n.includes("dense_transitions"))).toEqual([
      "backbone.layers.1.mixer.dense_transitions.0.proj.weight",
      "backbone.layers.1.mixer.dense_transitions.0.select.fc1.weight",
      "backbone.layers.1.mixer.dense_transitions.0.select.fc2.weight",
      "backbone.layers.2.mixer.dense_transitions.0.proj.weight",
      "backbone.layers.2.mixer.dense_transitions.0.select.fc1.weight",
      "backbone.layers.2.mixer.dense_transitions.0.select.fc2.weight",
      "backbone.layers.2.mixer.dense_transitions.1.proj.weight",
      "backbone.layers.2.mixer.dense_transitions.1.select.fc1.weight",
      "backbone.layers.2.mixer.dense_transitions.1.select.fc2.weight",
    ]);
  });

  it("decodes with O(1) memory: the step graph carries only each layer's own conv and ssm state", () => {
    const model = createMamba(tiny({ m: 2 }));
    const step = model.chunkGraph(1, 1);
    expect(step.inputs.map((b) => b.name).sort()).toEqual(["input_ids", "past_conv.0", "past_conv.1", "past_conv.2", "past_ssm.0", "past_ssm.1", "past_ssm.2"]);
    expect(step.outputs.map((b) => b.name).sort()).toEqual(["logits", "present_conv.0", "present_conv.1", "present_conv.2", "present_ssm.0", "present_ssm.1", "present_ssm.2"]);
  });

  it("saves and loads with its config and fusion parameters", async () => {
    const { mkdtempSync, readFileSync } = await import("node:fs");
    const { join } = await import("node:path");
    const { tmpdir } = await import("node:os");
    const model = createMamba(tiny({ gate: "state", projection: "mlp" }), 5);
    const dir = mkdtempSync(join(tmpdir(), "densessm-densemamba-"));
    await model.save(dir);
    const json = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as { dense: Record<string, unknown> };
    expect(json.dense).toEqual({ m: 2, fuse: "state", projection: "mlp", proj_mid_ratio: 4, gate: "state", gate_mid_ratio: 2, gate_init: "default" });
    const loaded = await CausalLM.fromPretrained(dir);
    const ids = randomIds(new Rng(6), 1, 9, 13);
    const s = cpuSession();
    expect(maxAbsDiff(flat(await loaded.logits(s, ids, "parallel")), flat(await model.logits(cpuSession(), ids, "parallel")))).toBe(0);
  });
});
