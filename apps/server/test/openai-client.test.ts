// The official `openai` client talks to densessm serve (127.0.0.1), streaming and not, for
// completions and chat, with every family; greedy answers are exactly what the library generates.
import { LanguageModel } from "@densessm/lm";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type TestServer } from "./helpers.js";

describe.each(["mamba-tiny", "dense-gau-retnet-tiny"] as const)("the openai client against %s", (name) => {
  let server: TestServer;
  let client: OpenAI;
  let library: LanguageModel;

  beforeAll(async () => {
    server = await startServer(name, { maxTokens: 64 });
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "not-needed", maxRetries: 0, timeout: 60_000 });
    library = new LanguageModel(server.model.lm, server.model.tokenizer, server.model.session);
  });
  afterAll(() => server.shutdown(1000));

  it("lists the model", async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual([name]);
    expect((await client.models.retrieve(name)).id).toBe(name);
  });

  it("completes a prompt, greedy, exactly as the library does, with honest usage", async () => {
    const prompt = "ROMEO: my";
    const out = await client.completions.create({ model: name, prompt, max_tokens: 12, temperature: 0 });
    expect(out.object).toBe("text_completion");
    expect(out.choices[0]!.text).toBe(await library.complete(prompt, { maxNewTokens: 12 }));
    expect(out.choices[0]!.finish_reason).toBe("length");
    expect(out.usage).toMatchObject({ prompt_tokens: server.model.tokenizer.encode(prompt).length, completion_tokens: 12, total_tokens: server.model.tokenizer.encode(prompt).length + 12 });
  });

  it("streams the same completion as server-sent events, with a usage chunk on request", async () => {
    const args = { model: name, prompt: "JULIET:", max_tokens: 10, temperature: 0 } as const;
    const whole = await client.completions.create(args);
    let text = "";
    let finish: string | null = null;
    let usage;
    for await (const chunk of await client.completions.create({ ...args, stream: true, stream_options: { include_usage: true } })) {
      for (const c of chunk.choices) {
        text += c.text;
        finish = c.finish_reason ?? finish;
      }
      usage = chunk.usage ?? usage;
    }
    expect(text).toBe(whole.choices[0]!.text);
    expect(finish).toBe("length");
    expect(usage).toMatchObject({ completion_tokens: 10 });
  });

  it("stops at a stop string (not included) with finish_reason stop, and echoes the prompt", async () => {
    const base = await client.completions.create({ model: name, prompt: "First Citizen:", max_tokens: 16, temperature: 0 });
    const text = base.choices[0]!.text;
    expect(text.length).toBeGreaterThanOrEqual(4);
    const stop = text.slice(2, 4);
    const stopped = await client.completions.create({ model: name, prompt: "First Citizen:", max_tokens: 16, temperature: 0, stop: [stop] });
    expect(stopped.choices[0]!.text).toBe(text.slice(0, text.indexOf(stop)));
    expect(stopped.choices[0]!.finish_reason).toBe("stop");
    const echoed = await client.completions.create({ model: name, prompt: "First Citizen:", max_tokens: 16, temperature: 0, echo: true });
    expect(echoed.choices[0]!.text).toBe(`First Citizen:${text}`);
  });

  it("answers n choices, reproducible with a seed, and log-probabilities of each token", async () => {
    const args = { model: name, prompt: "KING:", max_tokens: 8, temperature: 1.5, n: 3, seed: 42, logprobs: 2 } as const;
    const a = await client.completions.create(args);
    const b = await client.completions.create(args);
    expect(a.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    expect(a.choices.map((c) => c.text)).toEqual(b.choices.map((c) => c.text));
    // Each answer runs to max_tokens, or stops at an EOS (drawn, counted, not shown).
    const drawn = a.choices.map((c) => c.logprobs!.tokens!.length + (c.finish_reason === "stop" ? 1 : 0));
    a.choices.forEach((c, i) => expect(c.finish_reason === "length" ? drawn[i] : drawn[i]! <= 8).toBe(c.finish_reason === "length" ? 8 : true));
    expect(a.usage!.completion_tokens).toBe(drawn.reduce((x, y) => x + y, 0));
    for (const c of a.choices) {
      const lp = c.logprobs!;
      expect(lp.tokens!.join("")).toBe(c.text);
      for (const [i, v] of lp.token_logprobs!.entries()) {
        expect(v).toBeLessThanOrEqual(0);
        const top = lp.top_logprobs![i]!;
        expect(Object.keys(top).length).toBeGreaterThanOrEqual(1);
        expect(Math.max(...Object.values(top))).toBeGreaterThanOrEqual(v - 1e-6); // the best alternative is at least as likely
      }
    }
  });

  it("chats, streaming and not, with the same greedy answer", async () => {
    const messages = [
      { role: "system", content: "You speak like a play." },
      { role: "user", content: "Who goes there?" },
    ] as const;
    const whole = await client.chat.completions.create({ model: name, messages: [...messages], max_tokens: 12, temperature: 0 });
    expect(whole.object).toBe("chat.completion");
    expect(whole.choices[0]!.message.role).toBe("assistant");
    expect(whole.usage!.completion_tokens).toBeGreaterThan(0);
    let content = "";
    let role;
    for await (const chunk of await client.chat.completions.create({ model: name, messages: [...messages], max_tokens: 12, temperature: 0, stream: true })) {
      content += chunk.choices[0]?.delta.content ?? "";
      role ??= chunk.choices[0]?.delta.role;
    }
    expect(role).toBe("assistant");
    expect(content).toBe(whole.choices[0]!.message.content);
  });

  it("reports chat log-probabilities per token", async () => {
    const out = await client.chat.completions.create({ model: name, messages: [{ role: "user", content: "Speak." }], max_tokens: 5, temperature: 0, logprobs: true, top_logprobs: 3 });
    const content = out.choices[0]!.logprobs!.content!;
    // Every drawn token but an EOS that ended the answer.
    expect(content.length).toBeGreaterThanOrEqual(out.usage!.completion_tokens - 1);
    expect(content.length).toBeLessThanOrEqual(out.usage!.completion_tokens);
    for (const t of content) {
      expect(t.top_logprobs.length).toBe(3);
      expect(t.top_logprobs[0]!.token).toBe(t.token); // greedy: the drawn token is the most likely
      expect(t.logprob).toBeCloseTo(t.top_logprobs[0]!.logprob, 6);
    }
  });
});
