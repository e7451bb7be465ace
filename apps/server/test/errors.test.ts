// Bad requests get OpenAI-shaped errors with the right status; a full queue gets 429 with
// Retry-After; a request that crashes inside the model gets 500 and nobody else notices.
import { CpuBackend } from "@densessm/backend-cpu";
import { BackendError, Session, Tensor, type Backend, type Executable, type Graph } from "@densessm/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { post, sse, startServer, type TestServer } from "./helpers.js";

const shape = (json: Record<string, unknown>) => json.error as { message: string; type: string; param: string | null; code: string | null };

describe("bad requests", () => {
  let server: TestServer;
  let url: string;
  beforeAll(async () => {
    server = await startServer("mamba-tiny", { maxTokens: 64, maxPromptTokens: 32, bodyLimit: 4096, maxBatch: 4 });
    url = server.url;
  });
  afterAll(() => server.shutdown(1000));

  const cases: [string, string, unknown, number, RegExp, string | null][] = [
    ["malformed JSON", "/v1/completions", '{"model": "mamba-tiny", "prompt": ', 400, /not valid JSON/, null],
    ["an unknown model", "/v1/completions", { model: "gpt-4", prompt: "hi" }, 404, /model `gpt-4` does not exist/, "model"],
    ["a negative temperature", "/v1/completions", { model: "mamba-tiny", prompt: "hi", temperature: -0.5 }, 400, /'temperature' must be >= 0/, "temperature"],
    ["max_tokens beyond the limit", "/v1/completions", { model: "mamba-tiny", prompt: "hi", max_tokens: 65 }, 400, /at most 64 tokens/, "max_tokens"],
    ["a prompt over --max-prompt-tokens", "/v1/completions", { model: "mamba-tiny", prompt: "x".repeat(40) }, 413, /at most 32/, "prompt"],
    ["a chat over --max-prompt-tokens", "/v1/chat/completions", { model: "mamba-tiny", messages: [{ role: "user", content: "y".repeat(40) }] }, 413, /at most 32/, "prompt"],
    ["a body over the byte limit", "/v1/completions", { model: "mamba-tiny", prompt: "z".repeat(5000) }, 413, /larger than this server accepts/, null],
    ["a prompt of the wrong type", "/v1/completions", { model: "mamba-tiny", prompt: 5 }, 400, /'prompt' must be a string, an array of strings, an array of token ids or an array of arrays of token ids/, "prompt"],
    ["a missing field", "/v1/chat/completions", { model: "mamba-tiny" }, 400, /must have required property 'messages'/, "messages"],
    ["a token id outside the vocabulary", "/v1/completions", { model: "mamba-tiny", prompt: [1, 5000] }, 400, /token id 5000 is not in the vocabulary/, "prompt"],
    ["an unsupported penalty", "/v1/completions", { model: "mamba-tiny", prompt: "hi", frequency_penalty: 0.5 }, 400, /'frequency_penalty' is not supported by this server \(only 0 is\)/, "frequency_penalty"],
    ["n beyond the batch", "/v1/completions", { model: "mamba-tiny", prompt: "hi", n: 5 }, 400, /at most 4 answers/, "n"],
    ["a message of the wrong shape", "/v1/chat/completions", { model: "mamba-tiny", messages: [{ role: "user", content: 3 }] }, 400, /'messages.0.content' must be a string or an array of text parts/, "messages.0.content"],
    ["an unknown role", "/v1/chat/completions", { model: "mamba-tiny", messages: [{ role: "wizard", content: "hi" }] }, 400, /'messages.0.role' must be equal to one of the allowed values/, "messages.0.role"],
    ["echo with logprobs", "/v1/completions", { model: "mamba-tiny", prompt: "hi", echo: true, logprobs: 1 }, 400, /echo together with logprobs/, "echo"],
  ];

  it.each(cases)("answers %s with the right status and an OpenAI error body", async (_what, path, body, status, message, param) => {
    const res = await post(`${url}${path}`, body);
    expect(res.status).toBe(status);
    const error = shape(res.json);
    expect(error.message).toMatch(message);
    expect(error.message).not.toMatch(/\n|    at /); // one line, no stack
    expect(error.type).toBe("invalid_request_error");
    expect(error.param).toBe(param);
  });

  it("answers an unknown route with 404 in the same shape", async () => {
    const res = await fetch(`${url}/v1/embeddings`, { method: "POST" });
    expect(res.status).toBe(404);
    expect(shape((await res.json()) as Record<string, unknown>).message).toMatch(/no route POST \/v1\/embeddings/);
  });

  it("still serves after all that", async () => {
    const res = await post(`${url}/v1/completions`, { model: "mamba-tiny", prompt: "ok", max_tokens: 3 });
    expect(res.status).toBe(200);
    expect((await fetch(`${url}/health`)).status).toBe(200);
  });
});

describe("a full queue", () => {
  it("answers 429 with Retry-After, and takes requests again once there is room", async () => {
    const server = await startServer("mamba-tiny", { maxBatch: 1, maxQueue: 1 });
    try {
      const body = { model: "mamba-tiny", prompt: "long", max_tokens: 400, stream: true, ignore_eos: true };
      const first = new AbortController();
      const running = await fetch(`${server.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal: first.signal });
      const reader = running.body!.getReader();
      await reader.read(); // decoding: the only batch slot is taken
      const second = new AbortController();
      const queued = fetch(`${server.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal: second.signal }).catch(() => undefined);
      while (server.engine.gauges().queueDepth < 1) await new Promise((r) => setTimeout(r, 5));
      const refused = await post(`${server.url}/v1/completions`, { model: "mamba-tiny", prompt: "hi", max_tokens: 2 });
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(shape(refused.json)).toMatchObject({ type: "rate_limit_error", code: "rate_limit_exceeded" });
      first.abort();
      second.abort();
      await queued;
      while (server.engine.busy) await new Promise((r) => setTimeout(r, 5));
      expect((await post(`${server.url}/v1/completions`, { model: "mamba-tiny", prompt: "hi", max_tokens: 2 })).status).toBe(200);
    } finally {
      await server.shutdown(1000);
    }
  });
});

/**
 * The cpu backend with one planted fault: a chunk whose input ids hold 77, 77, 77 in a row throws,
 * as a kernel bug or a lost device would, halfway into serving that request's prompt.
 */
class FaultyBackend implements Backend {
  private readonly inner = new CpuBackend();
  readonly name = "faulty-cpu";
  readonly capabilities = this.inner.capabilities;
  upload = (t: Tensor) => this.inner.upload(t);
  download = (t: Parameters<Backend["download"]>[0]) => this.inner.download(t);
  release = (t: Parameters<Backend["release"]>[0]) => this.inner.release(t);
  memory = () => this.inner.memory();

  async compile(graph: Graph): Promise<Executable> {
    const exe = await this.inner.compile(graph);
    return {
      run: async (feeds) => {
        const ids = feeds.get("input_ids");
        if (ids instanceof Tensor && ids.shape[1]! >= 3 && /(^|,)77,77,77(,|$)/.test(Array.from(ids.data).join(","))) throw new BackendError("faulty-cpu: planted fault");
        return exe.run(feeds);
      },
      dispose: () => exe.dispose?.(),
    };
  }
}

describe("a request that crashes inside the model", () => {
  it("gets 500 in OpenAI's shape while a stream beside it finishes untouched, and the server lives on", async () => {
    const server = await startServer("mamba-tiny", { session: new Session(new FaultyBackend()) });
    try {
      const reference = await post(`${server.url}/v1/completions`, { model: "mamba-tiny", prompt: "steady", max_tokens: 40, temperature: 0 });
      const beside = fetch(`${server.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "mamba-tiny", prompt: "steady", max_tokens: 40, temperature: 0, stream: true }) });
      const crashing = await post(`${server.url}/v1/completions`, { model: "mamba-tiny", prompt: [1, 5, 77, 77, 77, 6], max_tokens: 5 });
      expect(crashing.status).toBe(500);
      expect(shape(crashing.json)).toMatchObject({ type: "server_error", code: "internal_error" });
      expect(shape(crashing.json).message).not.toMatch(/planted|at /); // details go to the log, not the client
      const streamed = await sse(await beside);
      expect(streamed.at(-1)).toBe("[DONE]");
      const chunks = streamed.slice(0, -1).map((d) => JSON.parse(d) as { choices: { text: string; finish_reason: string | null }[] });
      expect(chunks.map((c) => c.choices[0]!.text).join("")).toBe((reference.json.choices as { text: string }[])[0]!.text);
      expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe("length");
      const streamedCrash = await sse(await fetch(`${server.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "mamba-tiny", prompt: [1, 77, 77, 77], stream: true }) }));
      expect(JSON.parse(streamedCrash.at(-2)!)).toMatchObject({ error: { type: "server_error" } });
      expect(streamedCrash.at(-1)).toBe("[DONE]");
      expect((await fetch(`${server.url}/health`)).status).toBe(200);
      expect((await post(`${server.url}/v1/completions`, { model: "mamba-tiny", prompt: "after", max_tokens: 3 })).status).toBe(200);
    } finally {
      await server.shutdown(1000);
    }
  });
});
