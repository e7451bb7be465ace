import { setImmediate as nextTurn } from "node:timers/promises";
import { BatchDecoder, GraphDecoder, type BatchStream, type CausalLM, type DrawnToken, type Session, type StreamSettings } from "@densessm/core";
import { TextStream } from "@densessm/lm";
import type { Tokenizer } from "@densessm/tokenizer";
import { Metrics, type Gauges } from "../metrics.js";
import { Channel } from "./channel.js";
import { PrefixCache } from "./prefix-cache.js";

/** What one request asks the engine for: a tokenized prompt and the settings of each answer. */
export interface JobSpec {
  readonly prompt: readonly number[];
  /** Prompt lengths after which the state is worth keeping in the prefix cache (message boundaries). */
  readonly cachePoints?: readonly number[];
  /** One entry per answer (OpenAI's `n`): its sampling settings and seed. */
  readonly choices: readonly StreamSettings[];
  /** Most tokens to generate per answer. */
  readonly maxTokens: number;
  readonly stop?: readonly string[];
  /** End an answer at the tokenizer's EOS token (default true). */
  readonly stopAtEos?: boolean;
  readonly signal?: AbortSignal;
}

export type FinishReason = "stop" | "length";

export type JobEvent =
  /** Text that became final for one answer, with the token that completed it when there is one. */
  | { readonly type: "text"; readonly choice: number; readonly text: string; readonly token?: DrawnToken }
  | { readonly type: "finish"; readonly choice: number; readonly reason: FinishReason }
  /** Last event: what the request cost. */
  | { readonly type: "usage"; readonly promptTokens: number; readonly completionTokens: number; readonly cachedTokens: number };

/** The queue is full: answer 429 and ask the client to come back later. */
export class EngineBusyError extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super("the server is at capacity (every batch slot and queue place is taken); retry later");
  }
}

/** The engine is shutting down and takes no new work. */
export class EngineClosedError extends Error {
  constructor() {
    super("the server is shutting down");
  }
}

export interface EngineOptions {
  /** Most answers decoding at once (the batch). Default 64. */
  readonly maxBatch?: number;
  /** Most requests waiting for a batch slot; past it, requests are refused (429). Default 4 × maxBatch. */
  readonly maxQueue?: number;
  /** Bound of the prefix-state cache in bytes (0 turns it off). Default 256 MiB. */
  readonly prefixCacheBytes?: number;
  /** Also cache the state every this many prompt tokens (shared few-shot headers). Default 256. */
  readonly cacheInterval?: number;
  /**
   * Prompt tokens prefilled between two decode steps (at least one chunk, of one request, is):
   * higher admits a burst of requests faster, lower keeps the streams already decoding smoother.
   * Default 256.
   */
  readonly prefillBudget?: number;
}

interface Answer {
  readonly settings: StreamSettings;
  readonly text: TextStream;
  stream?: BatchStream;
  generated: number;
  done: boolean;
}

class Job {
  readonly channel = new Channel<JobEvent>();
  readonly answers: Answer[];
  readonly points: number[];
  decoder?: GraphDecoder;
  cached = 0;
  cancelled = false;

  constructor(
    readonly spec: JobSpec,
    tokenizer: Tokenizer,
    interval: number,
  ) {
    this.answers = spec.choices.map((settings) => ({ settings, text: new TextStream(tokenizer, spec.prompt, spec.stop), generated: 0, done: false }));
    const n = spec.prompt.length;
    const every = interval > 0 ? Array.from({ length: Math.floor(n / interval) }, (_, i) => (i + 1) * interval) : [];
    this.points = [...new Set([...(spec.cachePoints ?? []), ...every, n])].filter((p) => p > 0 && p <= n).sort((a, b) => a - b);
  }
}

/**
 * Continuous batching for the server: requests wait in a queue, are prefilled one chunk at a time
 * between decode steps (so a long prompt never stalls the streams already decoding), continue from
 * the longest cached prefix state, and join the BatchDecoder; each answer leaves the batch the
 * moment it finishes or its client goes away. One loop does all model work, so the backend is
 * never entered twice at once; the HTTP side only submits jobs and reads their events.
 */
export class Engine {
  readonly metrics = new Metrics();
  readonly cache: PrefixCache;
  readonly maxBatch: number;
  readonly maxQueue: number;
  private batch: BatchDecoder;
  private readonly waiting: Job[] = [];
  private readonly owners = new Map<BatchStream, [Job, number]>();
  private readonly interval: number;
  private readonly prefillBudget: number;
  /** Jobs whose prefill is running now (a cancel leaves their cleanup to the loop). */
  private readonly prefilling = new Set<Job>();
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private closing = false;

  constructor(
    readonly lm: CausalLM,
    readonly tokenizer: Tokenizer,
    readonly session: Session,
    options: EngineOptions = {},
  ) {
    this.maxBatch = options.maxBatch ?? 64;
    this.maxQueue = options.maxQueue ?? 4 * this.maxBatch;
    this.cache = new PrefixCache(options.prefixCacheBytes ?? 256 * 2 ** 20);
    this.interval = this.cache.maxBytes > 0 ? (options.cacheInterval ?? 256) : 0;
    this.prefillBudget = options.prefillBudget ?? 256;
    this.batch = new BatchDecoder(lm, session, { maxBatch: this.maxBatch });
  }

  /** Queues a request; its events arrive as the engine decodes. Throws EngineBusyError / EngineClosedError. */
  submit(spec: JobSpec): AsyncIterable<JobEvent> {
    if (this.closing) throw new EngineClosedError();
    if (this.waiting.length >= this.maxQueue) throw new EngineBusyError(Math.max(1, Math.ceil(this.waiting.length / Math.max(1, this.maxBatch))));
    const job = new Job(spec, this.tokenizer, this.interval);
    this.metrics.promptTokens += spec.prompt.length;
    if (spec.maxTokens === 0) {
      job.answers.forEach((_, i) => this.finish(job, i, "length"));
      return job.channel;
    }
    spec.signal?.addEventListener("abort", () => this.cancel(job), { once: true });
    if (spec.signal?.aborted) return job.channel;
    this.waiting.push(job);
    this.start();
    return job.channel;
  }

  gauges(): Gauges {
    return {
      queueDepth: this.waiting.length,
      activeStreams: this.batch.size,
      prefilling: this.prefilling.size,
      cacheHits: this.cache.hits,
      cacheMisses: this.cache.misses,
      cacheSavedTokens: this.cache.savedTokens,
      cacheBytes: this.cache.bytes,
      cacheEntries: this.cache.size,
      cacheMaxBytes: this.cache.maxBytes,
      maxBatch: this.maxBatch,
    };
  }

  /** Requests waiting or decoding. */
  get busy(): boolean {
    return this.waiting.length > 0 || this.batch.size > 0;
  }

  /**
   * Graceful shutdown: no new requests; what is in flight runs on until `deadlineMs`, then every
   * request still open ends with an error. Resolves when the engine is idle.
   */
  async close(deadlineMs: number): Promise<void> {
    this.closing = true;
    this.start();
    const timer = setTimeout(() => {
      for (const job of [...this.waiting, ...new Set([...this.owners.values()].map(([j]) => j))]) this.cancel(job, new EngineClosedError());
    }, deadlineMs);
    try {
      await this.loop;
    } finally {
      clearTimeout(timer);
      this.batch.dispose();
      this.cache.clear();
    }
  }

  private start(): void {
    if (this.wake) {
      const wake = this.wake;
      this.wake = undefined;
      wake();
    }
    this.loop ??= this.run().finally(() => (this.loop = undefined));
  }

  private async run(): Promise<void> {
    for (;;) {
      if (!this.busy) {
        if (this.closing) return;
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      await this.prefill();
      if (this.batch.size > 0) await this.step();
      await nextTurn(); // let the HTTP side read requests, write events and notice disconnects
    }
  }

  /**
   * Prefill chunks, in arrival order, up to the budget of prompt tokens (at least one chunk): the
   * queue's head until it joins the batch, then the next, while the batch has room for them. Each
   * request prefills alone (batch 1), so chunk graphs exist per chunk length only.
   */
  private async prefill(): Promise<void> {
    let spent = 0;
    for (let head = this.waiting[0]; head && this.batch.size + head.answers.length <= this.maxBatch; head = this.waiting[0]) {
      const before = this.metrics.prefillTokens;
      await this.prefillChunk(head);
      spent += this.metrics.prefillTokens - before;
      if (spent >= this.prefillBudget) return;
    }
  }

  /** Runs one prefill chunk of `job`; when its prompt is done, it joins the batch. */
  private async prefillChunk(job: Job): Promise<void> {
    const prompt = job.spec.prompt;
    const started = performance.now();
    this.prefilling.add(job);
    try {
      if (!job.decoder) {
        const hit = this.cache.maxBytes > 0 ? this.cache.lookup(prompt, job.points) : undefined;
        job.cached = hit?.length ?? 0;
        job.decoder = hit ? this.lm.resumeDecoding(this.session, hit.snapshot) : new GraphDecoder({ ...this.lm.decoderOptions(this.session), state: this.lm.initialState(1), history: [[]] });
      }
      const decoder = job.decoder;
      const at = decoder.position;
      if (at < prompt.length) {
        const end = Math.min(at + this.lm.chunkSize, job.points.find((p) => p > at) ?? prompt.length);
        await decoder.feed([prompt.slice(at, end)]);
        this.metrics.prefillTokens += end - at;
        if (this.cache.maxBytes > 0 && job.points.includes(end) && !this.cache.has(prompt, end)) this.cache.store(prompt, await decoder.snapshot());
      }
      if (job.cancelled) return this.dropQueued(job);
      if (decoder.position < prompt.length) return;
      remove(this.waiting, job);
      job.decoder = undefined;
      const source = job.answers.length > 1 ? await decoder.fork(job.answers.length) : decoder;
      if (source !== decoder) decoder.dispose();
      const joined = await this.batch.join(source, job.spec.choices);
      joined.forEach(({ stream }, i) => {
        job.answers[i]!.stream = stream;
        this.owners.set(stream, [job, i]);
      });
      if (job.cancelled) return job.answers.forEach((a) => this.leave(a));
      joined.forEach(({ token }, i) => this.accept(job, i, token));
    } catch (e) {
      this.dropQueued(job);
      this.fail(job, e);
    } finally {
      this.prefilling.delete(job);
      this.metrics.prefillSeconds += (performance.now() - started) / 1000;
    }
  }

  private dropQueued(job: Job): void {
    remove(this.waiting, job);
    job.decoder?.dispose();
    job.decoder = undefined;
  }

  private async step(): Promise<void> {
    const started = performance.now();
    const rows = this.batch.size;
    let drawn: Map<BatchStream, DrawnToken>;
    try {
      drawn = await this.batch.step();
    } catch (e) {
      // A failed step leaves no stream's state trustworthy: end them all, with the error, and start afresh.
      for (const job of new Set([...this.owners.values()].map(([j]) => j))) this.fail(job, e);
      this.batch.dispose();
      this.batch = new BatchDecoder(this.lm, this.session, { maxBatch: this.maxBatch });
      return;
    } finally {
      this.metrics.decodeSeconds += (performance.now() - started) / 1000;
      this.metrics.decodeSteps++;
      this.metrics.decodeRows += rows;
    }
    for (const [stream, token] of drawn) {
      const owner = this.owners.get(stream);
      if (owner) this.accept(owner[0], owner[1], token);
    }
  }

  /** A token drawn for answer `i`: text out, then whether the answer is done. */
  private accept(job: Job, i: number, token: DrawnToken): void {
    const answer = job.answers[i]!;
    if (answer.done) return;
    answer.generated++;
    this.metrics.countGenerated(1);
    if (job.spec.stopAtEos !== false && token.token === this.tokenizer.eosTokenId) return this.finish(job, i, "stop");
    const text = answer.text.push(token.token);
    job.channel.push({ type: "text", choice: i, text, token });
    if (answer.text.done) this.finish(job, i, "stop");
    else if (answer.generated >= job.spec.maxTokens) this.finish(job, i, "length");
  }

  private finish(job: Job, i: number, reason: FinishReason): void {
    const answer = job.answers[i]!;
    if (answer.done) return;
    answer.done = true;
    this.leave(answer);
    const rest = answer.text.flush();
    if (rest) job.channel.push({ type: "text", choice: i, text: rest });
    job.channel.push({ type: "finish", choice: i, reason });
    if (job.answers.every((a) => a.done)) {
      job.channel.push({ type: "usage", promptTokens: job.spec.prompt.length, completionTokens: job.answers.reduce((n, a) => n + a.generated, 0), cachedTokens: job.cached });
      job.channel.close();
    }
  }

  /** The client went away (or shutdown's deadline passed): free the job's state at once. */
  private cancel(job: Job, error?: Error): void {
    if (job.cancelled || job.answers.every((a) => a.done)) return;
    job.cancelled = true;
    if (!this.prefilling.has(job)) this.dropQueued(job); // a prefill in progress is dropped by the loop when its chunk ends
    this.metrics.cancelledRequests++;
    for (const answer of job.answers) {
      answer.done = true;
      this.leave(answer);
    }
    if (error) job.channel.fail(error);
    else job.channel.close();
    this.start();
  }

  private fail(job: Job, error: unknown): void {
    for (const answer of job.answers) {
      answer.done = true;
      this.leave(answer);
    }
    job.channel.fail(error);
  }

  private leave(answer: Answer): void {
    if (!answer.stream) return;
    this.owners.delete(answer.stream);
    this.batch.leave(answer.stream);
    answer.stream = undefined;
  }
}

function remove<T>(list: T[], item: T): void {
  const at = list.indexOf(item);
  if (at >= 0) list.splice(at, 1);
}
