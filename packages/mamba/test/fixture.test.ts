import { describe, expect, it } from "vitest";
import { CausalLM } from "@densessm/core";
import "../src/index.js";
import { cpuSession, FIXTURE, flat, loadCase, maxAbsDiff } from "./helpers.js";

describe("mamba-tiny fixture (state-spaces/mamba reference logits)", () => {
  const c = loadCase();
  const expectedParallel = c.logits_parallel.flat(2);
  const expectedRecurrent = c.logits_recurrent.flat(2);

  it("full-sequence logits match logits_parallel to 1e-4", async () => {
    const model = await CausalLM.fromPretrained(FIXTURE);
    const logits = await model.logits(cpuSession(), c.input_ids, "parallel");
    expect(logits.shape).toEqual([2, 11, 101]);
    expect(maxAbsDiff(flat(logits), expectedParallel)).toBeLessThanOrEqual(1e-4);
  });

  it("full-sequence logits with a scan chunk of 4 tokens still match", async () => {
    const model = await CausalLM.fromPretrained(FIXTURE, { config: { scan_chunk_size: 4 } });
    const s = cpuSession();
    expect(maxAbsDiff(flat(await model.logits(s, c.input_ids, "parallel")), expectedParallel)).toBeLessThanOrEqual(1e-4);
    expect(maxAbsDiff(flat(await model.logits(s, c.input_ids, "chunkwise")), expectedParallel)).toBeLessThanOrEqual(1e-4);
  });

  it("recurrent step logits match logits_recurrent to 1e-4", async () => {
    const model = await CausalLM.fromPretrained(FIXTURE);
    const logits = await model.logits(cpuSession(), c.input_ids, "recurrent");
    expect(maxAbsDiff(flat(logits), expectedRecurrent)).toBeLessThanOrEqual(1e-4);
  });

  it("prefill (chunks of 3) then decode equals the full-sequence logits", async () => {
    const model = await CausalLM.fromPretrained(FIXTURE, { chunkSize: 3 });
    const s = cpuSession();
    const split = 7;
    const V = 101;
    const prefix = c.input_ids.map((r) => r.slice(0, split));
    const pf = flat(await model.logits(s, prefix, "chunkwise"));
    const decoder = await model.startDecoding(s, prefix);
    const decoded: Float32Array[] = [flat(await decoder.logits())];
    for (let t = split; t < 11; t++) {
      await decoder.step(c.input_ids.map((row) => row[t]!));
      decoded.push(flat(await decoder.logits()));
    }
    decoder.dispose();
    const full = c.logits_parallel;
    for (let b = 0; b < 2; b++) {
      for (let t = 0; t < 11; t++) {
        // decoded[k] predicts the token after position split - 1 + k.
        const ours = t < split ? pf.subarray((b * split + t) * V, (b * split + t + 1) * V) : decoded[t - split + 1]!.subarray(b * V, (b + 1) * V);
        expect(maxAbsDiff(ours, full[b]![t]!)).toBeLessThanOrEqual(1e-4);
      }
      expect(maxAbsDiff(decoded[0]!.subarray(b * V, (b + 1) * V), full[b]![split - 1]!)).toBeLessThanOrEqual(1e-4);
    }
  });
});
