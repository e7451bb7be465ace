import { describe, expect, it } from "vitest";
import { MambaForCausalLM } from "../src/index.js";
import { cpuSession, FIXTURE, flat, loadCase, maxAbsDiff } from "./helpers.js";

describe("mamba-tiny fixture (state-spaces/mamba reference logits)", () => {
  const c = loadCase();
  const expectedParallel = c.logits_parallel.flat(2);
  const expectedRecurrent = c.logits_recurrent.flat(2);

  it("full-sequence logits match logits_parallel to 1e-4", async () => {
    const model = await MambaForCausalLM.fromPretrained(FIXTURE);
    const logits = await model.logits(cpuSession(), c.input_ids, "parallel");
    expect(logits.shape).toEqual([2, 11, 101]);
    expect(maxAbsDiff(flat(logits), expectedParallel)).toBeLessThanOrEqual(1e-4);
  });

  it("full-sequence logits with a scan chunk of 4 tokens still match", async () => {
    const model = await MambaForCausalLM.fromPretrained(FIXTURE, { configOverrides: { scanChunkSize: 4 } });
    const s = cpuSession();
    expect(maxAbsDiff(flat(await model.logits(s, c.input_ids, "parallel")), expectedParallel)).toBeLessThanOrEqual(1e-4);
    expect(maxAbsDiff(flat(await model.logits(s, c.input_ids, "chunkwise")), expectedParallel)).toBeLessThanOrEqual(1e-4);
  });

  it("recurrent step logits match logits_recurrent to 1e-4", async () => {
    const model = await MambaForCausalLM.fromPretrained(FIXTURE);
    const logits = await model.logits(cpuSession(), c.input_ids, "recurrent");
    expect(maxAbsDiff(flat(logits), expectedRecurrent)).toBeLessThanOrEqual(1e-4);
  });

  it("prefill then decode equals the full-sequence logits", async () => {
    const model = await MambaForCausalLM.fromPretrained(FIXTURE, { configOverrides: { scanChunkSize: 3 } });
    const s = cpuSession();
    const split = 7;
    const pre = await model.prefill(s, c.input_ids.map((r) => r.slice(0, split)));
    let state = pre.state;
    const decoded: number[] = [];
    const V = 101;
    for (let t = split; t < 11; t++) {
      const r = await model.step(s, c.input_ids.map((row) => row[t]!), state);
      state = r.state;
      decoded.push(...flat(r.logits));
    }
    const full = c.logits_parallel;
    const pf = flat(pre.logits);
    for (let b = 0; b < 2; b++) {
      for (let t = 0; t < 11; t++) {
        const ours = t < split ? pf.subarray((b * split + t) * V, (b * split + t + 1) * V) : decoded.slice(((t - split) * 2 + b) * V, ((t - split) * 2 + b + 1) * V);
        expect(maxAbsDiff(ours, full[b]![t]!)).toBeLessThanOrEqual(1e-4);
      }
    }
  });
});
