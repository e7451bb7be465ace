import { randomInt, randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { CausalLM, DrawnToken, Session, StreamSettings } from "@densessm/core";
import type { Tokenizer } from "@densessm/tokenizer";
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { ChatTemplate } from "./chat-template.js";
import { Engine, EngineBusyError, EngineClosedError, type EngineOptions, type FinishReason, type JobEvent, type JobSpec } from "./engine/engine.js";
import { ApiError, invalidRequest, modelNotFound, promptTooLong, serverError } from "./errors.js";
import { renderMetrics } from "./metrics.js";
import { ALTERNATIVES, chatBody, completionBody, type ChatRequest, type CompletionRequest } from "./schemas.js";

export interface ServerOptions extends EngineOptions {
  readonly lm: CausalLM;
  readonly tokenizer: Tokenizer;
  readonly session: Session;
  readonly chatTemplate: ChatTemplate;
  /** The model's name in /v1/models and in the `model` field requests must send. */
  readonly modelId: string;
  /** Longest prompt in tokens (longer: 413). Default 8192. */
  readonly maxPromptTokens?: number;
  /** Most tokens a request may ask to generate per answer (more: 400); also chat's default. Default 2048. */
  readonly maxTokens?: number;
  /** Largest request body in bytes (larger: 413). Default 4 MiB. */
  readonly bodyLimit?: number;
  /** Fastify's logger (default off). */
  readonly logger?: boolean;
}

export interface DenseSSMServer {
  readonly app: FastifyInstance;
  readonly engine: Engine;
  /**
   * Graceful shutdown: refuse new requests (503), let the streams in flight finish until
   * `deadlineMs`, end the rest with an error event, then close the listener.
   */
  shutdown(deadlineMs: number): Promise<void>;
}

/** One answer being assembled for a non-streaming response. */
interface Collected {
  text: string;
  tokens: DrawnToken[];
  finish: FinishReason | null;
}

/**
 * The OpenAI-compatible HTTP API over an Engine: GET /v1/models, POST /v1/completions,
 * POST /v1/chat/completions (both streaming as server-sent events ending in `data: [DONE]`),
 * GET /health and GET /metrics (Prometheus). Bodies are checked against JSON schemas; every error
 * is answered in OpenAI's shape with its status, and an error in one request never ends the process.
 */
export function createServer(options: ServerOptions): DenseSSMServer {
  const { lm, tokenizer, modelId } = options;
  const maxPromptTokens = options.maxPromptTokens ?? 8192;
  const maxTokens = options.maxTokens ?? 2048;
  const engine = new Engine(lm, tokenizer, options.session, options);
  const created = Math.floor(Date.now() / 1000);
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: options.bodyLimit ?? 4 * 2 ** 20,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false } },
  });
  let closing = false;
  /**
   * Open connections and how many responses each is writing. A kept-alive connection between
   * requests would hold the process at shutdown until the client's keep-alive timeout (seconds),
   * and Node's own idle tracking misses connections whose client aborted a hijacked stream.
   */
  const connections = new Map<Socket, number>();
  app.server.on("connection", (socket: Socket) => {
    connections.set(socket, 0);
    socket.once("close", () => connections.delete(socket));
  });
  app.addHook("onRequest", async (req, reply) => {
    const socket = req.raw.socket;
    if (!connections.has(socket)) return; // an injected request (no socket of ours)
    connections.set(socket, connections.get(socket)! + 1);
    reply.raw.once("close", () => {
      // A connection that closed first is gone from the map; do not bring it back.
      if (!connections.has(socket)) return;
      const busy = connections.get(socket)! - 1;
      connections.set(socket, busy);
      if (closing && busy === 0) socket.destroy();
    });
  });

  app.addHook("onResponse", async (req, reply) => engine.metrics.countRequest(req.routeOptions.url ?? "unknown", reply.statusCode));

  app.setErrorHandler((error: FastifyError, req, reply) => {
    const api = toApiError(error);
    if (api.status >= 500) req.log.error(error);
    if (api.status === 500) console.error(`densessm serve: ${req.method} ${req.url}: ${error.stack ?? error.message}`);
    if (error instanceof EngineBusyError) reply.header("retry-after", String(error.retryAfterSeconds));
    return reply.status(api.status).send(api.body);
  });
  app.setNotFoundHandler((req, reply) => reply.status(404).send(new ApiError(404, `no route ${req.method} ${req.url}`, "invalid_request_error", "not_found").body));

  const modelObject = { id: modelId, object: "model", created, owned_by: "densessm" };
  app.get("/v1/models", async () => ({ object: "list", data: [modelObject] }));
  app.get<{ Params: { id: string } }>("/v1/models/:id", async (req) => {
    if (req.params.id !== modelId) throw modelNotFound(req.params.id);
    return modelObject;
  });

  app.get("/health", async (_req, reply) => {
    const g = engine.gauges();
    return reply.status(closing ? 503 : 200).send({ status: closing ? "shutting_down" : "ok", model: modelId, family: lm.family, backend: options.session.backend.name, active_streams: g.activeStreams, queue_depth: g.queueDepth });
  });

  app.get("/metrics", async (_req, reply) => reply.type("text/plain; version=0.0.4; charset=utf-8").send(renderMetrics(engine.metrics, engine.gauges())));

  /** The settings every answer of a request shares, checked against the server's limits. */
  function settingsOf(body: CompletionRequest | ChatRequest, defaultMaxTokens: number, logprobs: number | undefined, extraStop: readonly string[] = []) {
    if (body.model !== modelId) throw modelNotFound(body.model);
    const requested = ("max_completion_tokens" in body ? body.max_completion_tokens : undefined) ?? body.max_tokens ?? defaultMaxTokens;
    if (requested > maxTokens) throw invalidRequest(`max_tokens is ${requested}; this server generates at most ${maxTokens} tokens per answer (--max-tokens)`, "max_tokens");
    const n = body.n ?? 1;
    if (n > engine.maxBatch) throw invalidRequest(`n is ${n}; this server decodes at most ${engine.maxBatch} answers at once (--max-batch)`, "n");
    const base = body.seed ?? randomInt(2 ** 31);
    const choices: StreamSettings[] = Array.from({ length: n }, (_, i) => ({
      temperature: body.temperature ?? 1,
      topP: body.top_p ?? 1,
      topK: body.top_k ?? 0,
      repetitionPenalty: body.repetition_penalty ?? 1,
      vocabSize: tokenizer.vocabSize,
      seed: (base + i) >>> 0,
      ...(logprobs === undefined ? {} : { logprobs }),
    }));
    const stop = [...(typeof body.stop === "string" ? [body.stop] : (body.stop ?? [])), ...extraStop];
    return { maxTokens: requested, choices, stop, stopAtEos: body.ignore_eos !== true };
  }

  function checkPrompt(tokens: readonly number[]): void {
    if (tokens.length === 0) throw invalidRequest("the prompt is empty (and the tokenizer adds no BOS token)", "prompt");
    if (tokens.length > maxPromptTokens) throw promptTooLong(tokens.length, maxPromptTokens);
    const bad = tokens.find((t) => t >= tokenizer.vocabSize);
    if (bad !== undefined) throw invalidRequest(`token id ${bad} is not in the vocabulary [0, ${tokenizer.vocabSize})`, "prompt");
  }

  /** Submits every job of a request, or none: a full queue (429) or shutdown (503) cancels those already in. */
  function submitAll(specs: Omit<JobSpec, "signal">[], reply: FastifyReply): AsyncIterable<JobEvent>[] {
    if (closing) throw shuttingDown();
    const abort = new AbortController();
    // A client that goes away before its answer is complete cancels it at once.
    reply.raw.on("close", () => reply.raw.writableFinished || abort.abort());
    try {
      return specs.map((spec) => engine.submit({ ...spec, signal: abort.signal }));
    } catch (e) {
      abort.abort();
      throw e instanceof EngineClosedError ? shuttingDown() : e;
    }
  }

  app.post("/v1/completions", { schema: { body: completionBody } }, async (req, reply) => {
    const body = req.body as CompletionRequest;
    const logprobs = body.logprobs ?? undefined;
    if (body.echo && logprobs !== undefined) throw invalidRequest("echo together with logprobs is not supported: this server does not compute the prompt's log-probabilities", "echo");
    const common = settingsOf(body, 16, logprobs);
    const raw = promptsOf(body.prompt);
    const prompts = raw.map((p) => (typeof p === "string" ? tokenizer.encode(p) : p));
    prompts.forEach(checkPrompt);
    const echoed = raw.map((p, i) => (!body.echo ? "" : typeof p === "string" ? p : tokenizer.decode(prompts[i]!, { skipSpecialTokens: true })));
    const jobs = submitAll(prompts.map((prompt) => ({ prompt, ...common })), reply);
    const n = common.choices.length;
    const id = `cmpl-${randomUUID()}`;
    const base = { id, object: "text_completion", created: Math.floor(Date.now() / 1000), model: modelId };
    const logprobsOf = (tokens: readonly DrawnToken[], offset: number) => (logprobs === undefined ? null : completionLogprobs(tokenizer, tokens, offset));

    if (body.stream) {
      return streamEvents(req, reply, jobs, n, {
        everyToken: logprobs !== undefined,
        start: (index) => (echoed[Math.floor(index / n)] ? { ...base, choices: [{ index, text: echoed[Math.floor(index / n)], logprobs: null, finish_reason: null }] } : undefined),
        text: (index, text, token) => ({ ...base, choices: [{ index, text, logprobs: logprobsOf(token ? [token] : [], 0), finish_reason: null }] }),
        finish: (index, reason) => ({ ...base, choices: [{ index, text: "", logprobs: null, finish_reason: reason }] }),
        usage: (usage) => (body.stream_options?.include_usage ? { ...base, choices: [], usage } : undefined),
      });
    }
    const { answers, usage } = await collect(jobs, n);
    return {
      ...base,
      choices: answers.map((a, index) => {
        const echo = echoed[Math.floor(index / n)]!;
        return { index, text: echo + a.text, logprobs: logprobsOf(a.tokens, echo.length), finish_reason: a.finish };
      }),
      usage,
    };
  });

  app.post("/v1/chat/completions", { schema: { body: chatBody } }, async (req, reply) => {
    const body = req.body as ChatRequest;
    const logprobs = body.logprobs ? (body.top_logprobs ?? 0) : undefined;
    if (!body.logprobs && body.top_logprobs != null) throw invalidRequest("top_logprobs needs logprobs: true", "top_logprobs");
    const common = settingsOf(body, maxTokens, logprobs, options.chatTemplate.stop);
    const messages = body.messages.map((m) => ({ role: m.role, content: typeof m.content === "string" ? m.content : m.content.map((p) => p.text).join("") }));
    let rendered;
    try {
      rendered = options.chatTemplate.render(messages);
    } catch (e) {
      throw invalidRequest(`the chat template rejected these messages: ${(e as Error).message}`, "messages");
    }
    checkPrompt(rendered.tokens);
    const jobs = submitAll([{ prompt: rendered.tokens, cachePoints: rendered.boundaries, ...common }], reply);
    const n = common.choices.length;
    const id = `chatcmpl-${randomUUID()}`;
    const base = { id, object: "chat.completion.chunk", created: Math.floor(Date.now() / 1000), model: modelId };
    const logprobsOf = (tokens: readonly DrawnToken[]) => (logprobs === undefined ? null : { content: chatLogprobs(tokenizer, tokens) });

    if (body.stream) {
      return streamEvents(req, reply, jobs, n, {
        everyToken: logprobs !== undefined,
        start: (index) => ({ ...base, choices: [{ index, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }] }),
        text: (index, text, token) => ({ ...base, choices: [{ index, delta: { content: text }, logprobs: logprobsOf(token ? [token] : []), finish_reason: null }] }),
        finish: (index, reason) => ({ ...base, choices: [{ index, delta: {}, logprobs: null, finish_reason: reason }] }),
        usage: (usage) => (body.stream_options?.include_usage ? { ...base, choices: [], usage } : undefined),
      });
    }
    const { answers, usage } = await collect(jobs, n);
    return {
      ...base,
      object: "chat.completion",
      choices: answers.map((a, index) => ({ index, message: { role: "assistant", content: a.text }, logprobs: logprobsOf(a.tokens), finish_reason: a.finish })),
      usage,
    };
  });

  async function shutdown(deadlineMs: number): Promise<void> {
    closing = true;
    await engine.close(deadlineMs);
    // Every stream has ended: close the connections between requests (one still writing its last
    // events, or a late 503, is closed when its response is done).
    for (const [socket, busy] of connections) if (busy === 0) socket.destroy();
    await app.close();
  }

  return { app, engine, shutdown };
}

interface StreamFormat {
  /** Whether every token gets an event (log-probabilities asked for), or only text. */
  readonly everyToken: boolean;
  start(index: number): object | undefined;
  text(index: number, text: string, token: DrawnToken | undefined): object;
  finish(index: number, reason: FinishReason): object;
  usage(usage: Usage): object | undefined;
}

interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
}

/** Server-sent events: one `data:` line per chunk, `data: [DONE]` at the end (an error chunk first if the work failed). */
async function streamEvents(req: FastifyRequest, reply: FastifyReply, jobs: AsyncIterable<JobEvent>[], n: number, format: StreamFormat): Promise<void> {
  reply.hijack();
  const res: ServerResponse = reply.raw;
  res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", connection: "keep-alive", "x-accel-buffering": "no" });
  const send = (chunk: object | undefined) => chunk && !res.destroyed && res.write(`data: ${JSON.stringify(chunk)}\n\n`);
  const usage = newUsage();
  let failed: unknown;
  for (let i = 0; i < jobs.length * n; i++) send(format.start(i));
  await Promise.all(
    jobs.map(async (job, j) => {
      try {
        for await (const event of job) {
          if (event.type === "text") {
            if (event.text || (format.everyToken && event.token)) send(format.text(j * n + event.choice, event.text, event.token));
          } else if (event.type === "finish") send(format.finish(j * n + event.choice, event.reason));
          else addUsage(usage, event);
        }
      } catch (e) {
        failed ??= e;
      }
    }),
  );
  if (failed !== undefined) {
    const api = toApiError(failed as Error);
    if (api.status === 500) console.error(`densessm serve: ${req.method} ${req.url}: ${(failed as Error).stack ?? String(failed)}`);
    send(api.body);
  } else send(format.usage(usage));
  if (!res.destroyed) res.end("data: [DONE]\n\n");
}

async function collect(jobs: AsyncIterable<JobEvent>[], n: number): Promise<{ answers: Collected[]; usage: Usage }> {
  const answers: Collected[] = Array.from({ length: jobs.length * n }, () => ({ text: "", tokens: [], finish: null }));
  const usage = newUsage();
  await Promise.all(
    jobs.map(async (job, j) => {
      for await (const event of job) {
        if (event.type === "text") {
          const a = answers[j * n + event.choice]!;
          a.text += event.text;
          if (event.token) a.tokens.push(event.token);
        } else if (event.type === "finish") answers[j * n + event.choice]!.finish = event.reason;
        else addUsage(usage, event);
      }
    }),
  );
  return { answers, usage };
}

const newUsage = (): Usage => ({ prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, prompt_tokens_details: { cached_tokens: 0 } });

function addUsage(usage: Usage, event: Extract<JobEvent, { type: "usage" }>): void {
  usage.prompt_tokens += event.promptTokens;
  usage.completion_tokens += event.completionTokens;
  usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
  usage.prompt_tokens_details.cached_tokens += event.cachedTokens;
}

/** OpenAI's completions logprobs: per token its text, log-probability and the top alternatives. */
function completionLogprobs(tokenizer: Tokenizer, tokens: readonly DrawnToken[], offset: number) {
  const text = (id: number) => tokenizer.decode([id]);
  const offsets: number[] = [];
  for (const t of tokens) {
    offsets.push(offset);
    offset += text(t.token).length;
  }
  return {
    tokens: tokens.map((t) => text(t.token)),
    token_logprobs: tokens.map((t) => t.logprob ?? null),
    top_logprobs: tokens.map((t) => Object.fromEntries((t.top ?? []).map((alt) => [text(alt.token), alt.logprob]))),
    text_offset: offsets,
  };
}

/** OpenAI's chat logprobs: per token its text, bytes, log-probability and the top alternatives. */
function chatLogprobs(tokenizer: Tokenizer, tokens: readonly DrawnToken[]) {
  const entry = (id: number, logprob: number) => {
    const token = tokenizer.decode([id]);
    return { token, logprob, bytes: [...new TextEncoder().encode(token)] };
  };
  return tokens.map((t) => ({ ...entry(t.token, t.logprob ?? 0), top_logprobs: (t.top ?? []).map((alt) => entry(alt.token, alt.logprob)) }));
}

const promptsOf = (prompt: CompletionRequest["prompt"]): (string | number[])[] =>
  typeof prompt === "string" ? [prompt] : typeof prompt[0] === "number" ? [prompt as number[]] : (prompt as (string | number[])[]);

const shuttingDown = () => new ApiError(503, "the server is shutting down; retry on another replica", "server_error", "shutting_down");

/** Any error as the OpenAI-shaped error to answer with. */
function toApiError(error: Error & Partial<FastifyError>): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof EngineBusyError) return new ApiError(429, error.message, "rate_limit_error", "rate_limit_exceeded");
  if (error instanceof EngineClosedError) return shuttingDown();
  if (error.validation?.length) {
    // An anyOf mismatch lists every branch's complaint first; the anyOf itself says what is wrong.
    const v = error.validation.find((e) => e.keyword === "anyOf") ?? error.validation[0]!;
    const param = v.instancePath.replace(/^\//, "").replace(/\//g, ".") || (v.params as { missingProperty?: string }).missingProperty || null;
    const what = param ? `'${param}'` : "the body";
    const message =
      v.keyword === "const"
        ? `${what} is not supported by this server (only ${JSON.stringify((v.params as { allowedValue: unknown }).allowedValue)} is)`
        : v.keyword === "anyOf"
          ? `${what} must be ${ALTERNATIVES[param?.replace(/\.\d+\./g, ".N.") ?? ""] ?? "of another type"}`
          : `${what} ${v.message ?? "is invalid"}`;
    return invalidRequest(`Invalid request: ${message}`, param);
  }
  if (error.code === "FST_ERR_CTP_BODY_TOO_LARGE") return new ApiError(413, `the request body is larger than this server accepts (${error.message})`, "invalid_request_error", "request_too_large");
  if (error instanceof SyntaxError || error.code === "FST_ERR_CTP_EMPTY_JSON_BODY") return invalidRequest(`the body is not valid JSON (${error.message})`, null, "invalid_json");
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) return new ApiError(error.statusCode, error.message, "invalid_request_error", error.code ?? null);
  return serverError();
}
