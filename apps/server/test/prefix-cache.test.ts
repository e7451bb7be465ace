// The prefix-state cache: a second chat with the same system prompt prefills only what follows it,
// and answers exactly what a server without the cache answers; the cache stays within its bytes.
import { DecoderSnapshot, Tensor } from "@densessm/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PrefixCache } from "../src/index.js";
import { metric, post, startServer, type TestServer } from "./helpers.js";

const system = { role: "system", content: "You are the chorus of a play, and you answer in one line of verse." };

describe("the prefix-state cache", () => {
  let cached: TestServer;
  let uncached: TestServer;
  beforeAll(async () => {
    cached = await startServer("dense-gau-retnet-tiny");
    uncached = await startServer("dense-gau-retnet-tiny", { prefixCacheBytes: 0 });
  });
  afterAll(async () => {
    await cached.shutdown(1000);
    await uncached.shutdown(1000);
  });

  const chat = (server: TestServer, question: string) =>
    post(`${server.url}/v1/chat/completions`, { model: server.modelId, messages: [system, { role: "user", content: question }], max_tokens: 16, temperature: 0 });
  const answer = (res: Awaited<ReturnType<typeof post>>) => (res.json.choices as { message: { content: string } }[])[0]!.message.content;
  const usage = (res: Awaited<ReturnType<typeof post>>) => res.json.usage as { prompt_tokens: number; prompt_tokens_details: { cached_tokens: number } };

  it("prefills only the suffix of a chat whose system prompt it has seen, and answers the same", async () => {
    const first = await chat(cached, "Who are you?");
    expect(usage(first).prompt_tokens_details.cached_tokens).toBe(0);

    const boundary = cached.model.tokenizer.encode(`${system.content}\n`).length; // the plain template: BOS, the system message, a newline
    const hits = await metric(cached.url, "densessm_prefix_cache_hits_total");
    const prefilled = await metric(cached.url, "densessm_prefill_tokens_total");
    const second = await chat(cached, "Where is the king tonight?");
    expect(second.status).toBe(200);
    expect(usage(second).prompt_tokens_details.cached_tokens).toBe(boundary);
    expect(await metric(cached.url, "densessm_prefix_cache_hits_total")).toBe(hits + 1);
    expect(await metric(cached.url, "densessm_prefill_tokens_total")).toBe(prefilled + usage(second).prompt_tokens - boundary);

    const reference = await chat(uncached, "Where is the king tonight?");
    expect(usage(reference).prompt_tokens_details.cached_tokens).toBe(0);
    expect(answer(second)).toBe(answer(reference));
    expect(answer(second).length).toBeGreaterThan(0);
  });

  it("answers a repeated prompt from its cached state without any prefill, identically", async () => {
    const body = { model: cached.modelId, prompt: "Now is the winter of our discontent", max_tokens: 12, temperature: 0 };
    const first = await post(`${cached.url}/v1/completions`, body);
    const prefilled = await metric(cached.url, "densessm_prefill_tokens_total");
    const again = await post(`${cached.url}/v1/completions`, body);
    expect(usage(again).prompt_tokens_details.cached_tokens).toBe(usage(again).prompt_tokens);
    expect(await metric(cached.url, "densessm_prefill_tokens_total")).toBe(prefilled);
    expect(again.json.choices).toEqual(first.json.choices);
    expect((await post(`${uncached.url}/v1/completions`, body)).json.choices).toEqual(first.json.choices);
  });

  it("reports its size and bound in /metrics", async () => {
    const bytes = await metric(cached.url, "densessm_prefix_cache_bytes");
    expect(bytes).toBeGreaterThan(0);
    expect(bytes).toBeLessThanOrEqual(await metric(cached.url, "densessm_prefix_cache_max_bytes"));
  });
});

describe("PrefixCache", () => {
  const snapshot = (tokens: number[], floats: number) => new DecoderSnapshot({ s: Tensor.zeros([1, floats]) }, Tensor.zeros([1, 4]), [tokens]);

  it("evicts the least recently used states to stay within its bytes, and finds the longest cached prefix", () => {
    const one = snapshot([1, 2], 100).byteLength;
    const cache = new PrefixCache(3 * one + 16); // three states of about this size (token counts differ a little)
    cache.store([1, 2, 3, 4], snapshot([1, 2], 100));
    cache.store([1, 2, 3, 4], snapshot([1, 2, 3], 100));
    cache.store([5, 6], snapshot([5, 6], 100));
    expect(cache.lookup([1, 2, 3, 9], [2, 3, 4])?.length).toBe(3); // the longest match, now most recent
    cache.store([7, 8], snapshot([7, 8], 100)); // over the bound: [1, 2] goes, the least recently used
    expect(cache.bytes).toBeLessThanOrEqual(3 * one + 16);
    expect(cache.has([1, 2], 2)).toBe(false);
    expect(cache.has([1, 2, 3], 3)).toBe(true);
    expect(cache.lookup([9, 9], [1, 2])).toBeUndefined();
    expect([cache.hits, cache.misses]).toEqual([1, 1]);
    cache.store([1], snapshot([1], 10_000)); // bigger than the whole cache: not kept
    expect(cache.size).toBe(3);
  });
});
