import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CpuBackend } from "@densessm/backend-cpu";
import { CausalLM, listPresets, presetConfig, Session } from "@densessm/core";
import { trainTokenizer } from "@densessm/tokenizer";
import { describe, expect, it } from "vitest";
import { BatchSampler, LanguageModel, evaluatePerplexity, generateTokens, splitTokens } from "../src/index.js";

const corpus = "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer the slings and arrows of outrageous fortune. ".repeat(20);
const tokenizer = trainTokenizer(corpus, { vocabSize: 300 });
const session = new Session(new CpuBackend());

describe.each(["dense-retnet-tiny", "dense-mamba-tiny"] as const)("%s (random weights)", (preset) => {
  const lm = CausalLM.fromConfig({ ...presetConfig(preset, tokenizer.vocabSize), ...(preset === "dense-retnet-tiny" ? { hidden_size: 32, query_key_dim: 16, num_hidden_layers: 2 } : { d_model: 32, n_layer: 2 }) }, { seed: 3 });
  const model = new LanguageModel(lm, tokenizer, session);

  it("generates the same tokens for a prompt alone or in a batch of unequal prompts", async () => {
    const prompts = [tokenizer.encode("To be, or not"), tokenizer.encode("whether"), tokenizer.encode("the slings and arrows of outrageous")];
    const alone = [];
    for (const p of prompts) {
      const out = [];
      for await (const t of generateTokens(lm, session, [p], { maxNewTokens: 6 })) out.push(t.token);
      alone.push(out);
    }
    const batched: number[][] = prompts.map(() => []);
    for await (const t of generateTokens(lm, session, prompts, { maxNewTokens: 6 })) batched[t.row]!.push(t.token);
    expect(batched).toEqual(alone);
    expect(alone.every((r) => r.length === 6)).toBe(true);
  });

  it("is reproducible with a seed and stops on an AbortSignal", async () => {
    const opts = { maxNewTokens: 12, temperature: 1, topK: 20, seed: 5 };
    expect(await model.complete("To be", opts)).toBe(await model.complete("To be", opts));
    const controller = new AbortController();
    const pieces: string[] = [];
    await expect(
      (async () => {
        for await (const piece of model.generate("To be", { maxNewTokens: 50, signal: controller.signal })) {
          pieces.push(piece);
          controller.abort();
        }
      })(),
    ).rejects.toThrow(/abort/i);
    expect(pieces.length).toBe(1);
  });

  it("never emits a stop string or anything after it", async () => {
    const free = await model.complete("To be", { maxNewTokens: 30 });
    const stop = free.slice(3, 6);
    if (stop.length < 3) throw new Error(`the model produced too little text to test stop strings: ${JSON.stringify(free)}`);
    const stopped = await model.complete("To be", { maxNewTokens: 30, stop: [stop] });
    expect(stopped).toBe(free.slice(0, free.indexOf(stop)));
  });

  it("scores every token once, in any window layout and any form", async () => {
    const tokens = Int32Array.from(tokenizer.encode(corpus.slice(0, 600), { addSpecialTokens: false }));
    const text = { bytes: 600, words: 100 };
    const one = await evaluatePerplexity(lm, session, tokens, text, { window: tokens.length });
    const chunks = await evaluatePerplexity(lm, session, tokens, text, { window: 32 });
    const sliding = await evaluatePerplexity(lm, session, tokens, text, { window: 32, stride: 8 });
    const recurrent = await evaluatePerplexity(lm, session, tokens, text, { window: 32, stride: 8, mode: "recurrent" });
    for (const r of [one, chunks, sliding, recurrent]) expect(r.tokens).toBe(tokens.length - 1);
    expect(recurrent.nllPerToken).toBeCloseTo(sliding.nllPerToken, 4);
    // Chunks see less context than one long window, a sliding window more than chunks.
    expect(chunks.nllPerToken).not.toBe(one.nllPerToken);
    expect(one.bitsPerByte).toBeCloseTo((one.nllPerToken * one.tokens) / Math.LN2 / 600, 9);
    await expect(evaluatePerplexity(lm, session, tokens, text, { window: 8, stride: 8 })).rejects.toThrow(/stride must be an integer in \[1, window - 1\]/);
  });
});

describe("presets", () => {
  it("build every family, with dense and plain variants of near-equal size", () => {
    const presets = listPresets();
    expect(presets.map((p) => `${p.family}:${p.name}`).sort()).toEqual(
      ["dense-gau-retnet:dense-retnet-small", "dense-gau-retnet:dense-retnet-tiny", "mamba:dense-mamba-small", "mamba:dense-mamba-tiny", "mamba:mamba-small", "mamba:mamba-tiny", "retnet:retnet-small", "retnet:retnet-tiny"],
    );
    const sizes = Object.fromEntries(presets.map(({ name }) => [name, CausalLM.fromConfig(presetConfig(name, 1024)).numParameters()]));
    expect(Math.abs(sizes["dense-retnet-tiny"]! / sizes["retnet-tiny"]! - 1)).toBeLessThan(0.05);
    expect(Math.abs(sizes["dense-mamba-tiny"]! / sizes["mamba-tiny"]! - 1)).toBeLessThan(0.05);
    expect(() => presetConfig("gpt-5", 10)).toThrow(/unknown model preset "gpt-5"/);
  });
});

describe("data", () => {
  it("samples reproducibly and refuses splits too small for one sequence", () => {
    const tokens = Int32Array.from({ length: 1000 }, (_, i) => i);
    const a = new BatchSampler(tokens, 2, 16, 1);
    const b = new BatchSampler(tokens, 2, 16, 1);
    expect(a.next().toArray()).toEqual(b.next().toArray());
    expect(() => splitTokens(tokens, 0.01, 64)).toThrow(/validation split has 10 tokens, fewer than one sequence of 65/);
  });

  it("refuses a tokenizer larger than the model's vocabulary", async () => {
    const small = CausalLM.fromConfig(presetConfig("mamba-tiny", 100));
    expect(() => new LanguageModel(small, tokenizer, session)).toThrow(/tokenizer has 300 tokens but the model's vocabulary is 100/);
    await expect(LanguageModel.fromPretrained(await mkdtemp(join(tmpdir(), "empty-")))).rejects.toThrow(/neither a model folder/);
  });
});
