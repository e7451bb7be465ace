// Continuous batching: streams join after their prefill and leave when done, at different steps,
// and each one draws exactly the tokens it draws alone (generateTokens on its own prompt), greedy
// or sampled with its own seed, for every family.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CpuBackend } from "@densessm/backend-cpu";
import { BatchDecoder, CausalLM, Session, type BatchStream, type StreamSettings } from "@densessm/core";
import { describe, expect, it } from "vitest";
import { generateTokens } from "../src/index.js";

const repo = fileURLToPath(new URL("../../..", import.meta.url));
const session = new Session(new CpuBackend());

interface Case {
  prompt: number[];
  settings: StreamSettings;
  tokens: number;
  /** Step of the batch at which the stream joins. */
  joinAt: number;
}

const cases: Case[] = [
  { prompt: [1, 20, 21, 22], settings: {}, tokens: 9, joinAt: 0 },
  { prompt: [1, 30, 5], settings: { temperature: 0.8, seed: 1 }, tokens: 12, joinAt: 0 },
  { prompt: [1, 7, 7, 7, 7, 7, 7, 8, 9, 10, 11], settings: { temperature: 1, topK: 10, seed: 2 }, tokens: 5, joinAt: 0 },
  { prompt: [1, 44], settings: { temperature: 0.9, topP: 0.8, seed: 3 }, tokens: 10, joinAt: 2 },
  { prompt: [1, 12, 13, 12, 13], settings: { temperature: 0.7, repetitionPenalty: 1.3, seed: 4 }, tokens: 8, joinAt: 2 },
  { prompt: [1, 60, 61, 62, 63, 64], settings: { logprobs: 3 }, tokens: 6, joinAt: 5 },
];

async function alone(lm: CausalLM, c: Case): Promise<number[]> {
  const out: number[] = [];
  const { logprobs: _, ...draw } = c.settings;
  for await (const { token } of generateTokens(lm, session, [c.prompt], { ...draw, maxNewTokens: c.tokens, stopAtEos: false })) out.push(token);
  return out;
}

describe.each(["dense-gau-retnet-tiny", "mamba-tiny"])("%s in a BatchDecoder", (name) => {
  it("gives every stream the tokens it draws alone while others join and leave", async () => {
    const lm = await CausalLM.fromPretrained(join(repo, "models", name));
    const expected = await Promise.all(cases.map((c) => alone(lm, c)));

    const batch = new BatchDecoder(lm, session, { maxBatch: 8 });
    const got = cases.map((): number[] => []);
    const logprobs: { token: number; logprob?: number; top?: readonly { token: number; logprob: number }[] }[] = [];
    const owner = new Map<BatchStream, number>();
    const sizes: number[] = [];
    for (let step = 0; got.some((g, i) => g.length < cases[i]!.tokens); step++) {
      for (const [i, c] of cases.entries()) {
        if (c.joinAt !== step) continue;
        const { stream, token } = (await batch.join(await lm.startDecoding(session, [c.prompt]), c.settings))[0]!;
        owner.set(stream, i);
        got[i]!.push(token.token);
        if (i === 5) logprobs.push(token);
      }
      for (const s of [...batch.streams]) if (got[owner.get(s)!]!.length >= cases[owner.get(s)!]!.tokens) batch.leave(s);
      sizes.push(batch.size);
      for (const [s, token] of await batch.step()) {
        const i = owner.get(s)!;
        got[i]!.push(token.token);
        if (i === 5) logprobs.push(token);
      }
    }
    expect(got).toEqual(expected);
    // The batch grew and shrank: 3 streams, then 5, one fewer, one more, and down as streams finished.
    expect(sizes.slice(0, 6)).toEqual([3, 3, 5, 5, 4, 5]);
    batch.dispose();

    // Log-probabilities computed on the backend match the host's log-softmax of the same logits.
    const decoder = await lm.startDecoding(session, [cases[5]!.prompt]);
    for (const drawn of logprobs) {
      const logits = Float64Array.from((await decoder.logits()).toFloat32().subarray(0, lm.vocabSize));
      const max = Math.max(...logits);
      const logZ = max + Math.log(logits.reduce((n, x) => n + Math.exp(x - max), 0));
      const host = Array.from(logits, (x) => x - logZ);
      expect(drawn.logprob).toBeCloseTo(host[drawn.token]!, 5);
      const order = [...host.keys()].sort((a, b) => host[b]! - host[a]! || a - b);
      expect(drawn.top!.map((t) => t.token)).toEqual(order.slice(0, 3));
      drawn.top!.forEach((t) => expect(t.logprob).toBeCloseTo(host[t.token]!, 5));
      expect(drawn.top![0]!.token).toBe(drawn.token); // greedy: the drawn token is the most likely one
      await decoder.step([drawn.token]);
    }
  });

  it("splits a forked prompt into streams that each sample with their own seed", async () => {
    const lm = await CausalLM.fromPretrained(join(repo, "models", name));
    const prompt = [1, 25, 26, 27, 28];
    const seeds = [7, 8, 9];
    // Hot enough that different seeds give different tokens even on these peaked tiny models.
    const expected = await Promise.all(seeds.map((seed) => alone(lm, { prompt, settings: { temperature: 10, seed }, tokens: 6, joinAt: 0 })));
    const batch = new BatchDecoder(lm, session, { maxBatch: 4, buckets: [4] });
    const decoder = await lm.startDecoding(session, [prompt]);
    const joined = await batch.join(await decoder.fork(3), seeds.map((seed) => ({ temperature: 10, seed })));
    const got = joined.map(({ token }) => [token.token]);
    for (let i = 1; i < 6; i++) for (const [s, token] of await batch.step()) got[joined.findIndex((j) => j.stream === s)]!.push(token.token);
    expect(got).toEqual(expected);
    expect(new Set(got.map((g) => g.join())).size).toBeGreaterThan(1); // different seeds, different text
    batch.dispose();
  });

  it("refuses more streams than maxBatch and bad settings, naming the problem", async () => {
    const lm = await CausalLM.fromPretrained(join(repo, "models", name));
    const batch = new BatchDecoder(lm, session, { maxBatch: 1 });
    await batch.join(await lm.startDecoding(session, [[1, 2]]), {});
    await expect(batch.join(await lm.startDecoding(session, [[1, 2]]), {})).rejects.toThrow(/exceed maxBatch 1/);
    batch.dispose();
    const other = new BatchDecoder(lm, session);
    await expect(other.join(await lm.startDecoding(session, [[1]]), { temperature: -1 })).rejects.toThrow(/temperature must be/);
    await expect(other.join(await lm.startDecoding(session, [[1]]), { logprobs: 99 })).rejects.toThrow(/logprobs must be/);
    expect(other.size).toBe(0);
  });
});
