import { CpuBackend } from "@densessm/backend-cpu";
import { argmax, CausalLM, presetConfig, Session } from "@densessm/core";
import { describe, expect, it } from "vitest";
import { generateTokens } from "../src/index.js";

// One sampler: every draw runs on the backend (core's `sample` op), repetition penalty included.

const session = new Session(new CpuBackend());
const lm = CausalLM.fromConfig({ ...presetConfig("dense-retnet-tiny", 50), hidden_size: 32, query_key_dim: 16, num_hidden_layers: 2 }, { seed: 4 });
// Larger logits than the random init gives, so the penalty changes which token wins.
for (const [name, p] of lm.module.namedParameters()) if (name === "lm_head.weight") p.value.data.forEach((v, i, a) => (a[i] = v * 40));

/** The host definition of the penalty: positive logits of seen tokens divided by p, others multiplied. */
function penalized(logits: Float32Array, seen: Iterable<number>, penalty: number): Float32Array {
  const out = Float32Array.from(logits);
  for (const t of new Set(seen)) out[t] = out[t]! > 0 ? out[t]! / penalty : out[t]! * penalty;
  return out;
}

async function tokens(prompt: number[], options: Parameters<typeof generateTokens>[3]): Promise<number[]> {
  const out: number[] = [];
  for await (const { token } of generateTokens(lm, session, [prompt], options)) out.push(token);
  return out;
}

describe("the repetition penalty runs on the backend", () => {
  it("matches the host definition at every step, over the prompt and the generated tokens", async () => {
    const rows = [[3, 7, 7, 1], [9, 2, 5, 11]];
    const decoder = await lm.startDecoding(session, rows);
    const history = rows.map((r) => [...r]);
    let differs = 0;
    for (let step = 0; step < 8; step++) {
      const logits = (await decoder.logits()).toFloat32();
      const expected = history.map((h, b) => argmax(penalized(logits.subarray(b * 50, (b + 1) * 50), h, 1.7)));
      const plain = history.map((_, b) => argmax(logits.subarray(b * 50, (b + 1) * 50)));
      differs += expected.filter((t, b) => t !== plain[b]).length;
      const drawn = await decoder.sample({ repetitionPenalty: 1.7, uniforms: new Float32Array(2) });
      expect(Array.from(drawn), `step ${step}`).toEqual(expected);
      // Alternate the draw inside the step graph (seen mask kept on the backend) with plain steps
      // (mask dropped, rebuilt from the history on the next penalized draw).
      if (step % 3 === 2) await decoder.step(expected);
      else expect(Array.from(await decoder.step(expected, { repetitionPenalty: 1.7, uniforms: new Float32Array(2) })).length).toBe(2);
      expected.forEach((t, b) => history[b]!.push(t));
    }
    decoder.dispose();
    expect(differs).toBeGreaterThan(0); // the penalty was not a no-op here
  });

  it("gives the same text for the same seed, with or without a penalty; a penalty of 1 is no penalty", async () => {
    const prompt = [5, 6, 7];
    const base = { maxNewTokens: 24, temperature: 0.9, topK: 10, topP: 0.9, seed: 3 };
    const withPenalty = await tokens(prompt, { ...base, repetitionPenalty: 1.5 });
    expect(await tokens(prompt, { ...base, repetitionPenalty: 1.5 })).toEqual(withPenalty);
    const without = await tokens(prompt, base);
    expect(await tokens(prompt, { ...base, repetitionPenalty: 1 })).toEqual(without);
    expect(withPenalty).not.toEqual(without);
    // Greedy decoding of this model repeats itself; a strong penalty spreads it over more tokens.
    const greedy = await tokens(prompt, { maxNewTokens: 24 });
    const spread = await tokens(prompt, { maxNewTokens: 24, repetitionPenalty: 3 });
    expect(new Set(spread).size).toBeGreaterThan(new Set(greedy).size);
  });

  it("treats topK 0 and topP 1 as off, like every other draw", async () => {
    const prompt = [1, 2, 3];
    const free = await tokens(prompt, { maxNewTokens: 16, temperature: 1, seed: 9 });
    expect(await tokens(prompt, { maxNewTokens: 16, temperature: 1, seed: 9, topK: 0, topP: 1 })).toEqual(free);
    expect(await tokens(prompt, { maxNewTokens: 16, temperature: 1, seed: 9, topK: 50 })).toEqual(free);
  });

  it("refuses bad settings by name", async () => {
    const decoder = await lm.startDecoding(session, [[1, 2]]);
    await expect(decoder.sample({ repetitionPenalty: 0, uniforms: new Float32Array(1) })).rejects.toThrow(/repetitionPenalty must be a positive number, got 0/);
    await expect(decoder.sample({ topK: -1, uniforms: new Float32Array(1) })).rejects.toThrow(/topK/);
    decoder.dispose();
    await expect(tokens([1], { repetitionPenalty: Number.NaN })).rejects.toThrow(/repetitionPenalty/);
  });
});
