import { CpuBackend } from "@densessm/backend-cpu";
import { CausalLM, Session } from "@densessm/core";
import { describe, expect, it } from "vitest";
import "../src/index.js";
import { FIXTURE_DIR, maxAbsDiff, readFixtureCase } from "./helpers.js";

describe("DenseGAU-RetNet official fixture", () => {
  const fixture = readFixtureCase();
  const parallelRef = fixture.logits_parallel.flat(2);
  const recurrentRef = fixture.logits_recurrent.flat(2);

  it("is found from config.json by CausalLM.fromPretrained, with every mode", async () => {
    const lm = await CausalLM.fromPretrained(FIXTURE_DIR);
    expect(lm.family).toBe("dense-gau-retnet");
    expect(lm.modes).toEqual(["parallel", "chunkwise", "recurrent"]);
  });

  it("parallel logits match logits_parallel", async () => {
    const lm = await CausalLM.fromPretrained(FIXTURE_DIR);
    const logits = await lm.logits(new Session(new CpuBackend()), fixture.input_ids, "parallel");
    expect(logits.shape).toEqual([2, 9, 97]);
    expect(maxAbsDiff(logits, parallelRef)).toBeLessThanOrEqual(1e-4);
  });

  it("recurrent logits (token by token) match logits_recurrent", async () => {
    const lm = await CausalLM.fromPretrained(FIXTURE_DIR);
    const logits = await lm.logits(new Session(new CpuBackend()), fixture.input_ids, "recurrent");
    expect(maxAbsDiff(logits, recurrentRef)).toBeLessThanOrEqual(1e-4);
  });

  for (const chunk of [1, 2, 4, 64]) {
    it(`chunkwise logits (chunk ${chunk}) match logits_parallel`, async () => {
      const lm = await CausalLM.fromPretrained(FIXTURE_DIR);
      lm.chunkSize = chunk;
      const logits = await lm.logits(new Session(new CpuBackend()), fixture.input_ids, "chunkwise");
      expect(maxAbsDiff(logits, parallelRef)).toBeLessThanOrEqual(1e-4);
    });
  }
});
