import type { DeviceTensor } from "../backend/backend.js";
import { DenseSSMError } from "../errors.js";
import type { Graph } from "../graph/graph.js";
import { GraphBuilder, trace, type SymTensor } from "../graph/symbolic.js";
import { replayNode } from "../graph/transform.js";
import { concat } from "../ops/views.js";
import { Rng } from "../runtime/rng.js";
import type { Feed, Session } from "../runtime/session.js";
import { Tensor } from "../tensor/tensor.js";
import type { CausalLM } from "./causal-lm.js";
import { GraphDecoder } from "./decoder.js";
import { drawAttrs, drawGraph, drawKey, isPenalized, logprobGraph, type DrawAttrs, type DrawSettings } from "./draw.js";
import type { DecoderSnapshot } from "./snapshot.js";
import { pastName, presentName } from "./state-names.js";

/** How one stream of a BatchDecoder draws its tokens. */
export interface StreamSettings extends DrawSettings {
  /**
   * Seed of the stream's own uniforms (default 0): one uniform per drawn token, exactly as
   * `generateTokens` draws them for a single prompt, so a stream draws the same tokens whether it
   * runs alone or beside others.
   */
  readonly seed?: number;
  /** Report log-probabilities: the drawn token's and those of this many most likely tokens (0 = only the drawn one). */
  readonly logprobs?: number;
}

/** The most alternatives `logprobs` may ask for per token. */
export const MAX_TOP_LOGPROBS = 20;

/** A token a stream drew, with its log-probabilities when the stream asked for them. */
export interface DrawnToken {
  readonly token: number;
  /** log p(token) under the model (raw logits: before penalty, temperature and filters). */
  readonly logprob?: number;
  /** The most likely tokens and their log-probabilities, most likely first. */
  readonly top?: readonly { readonly token: number; readonly logprob: number }[];
}

/** One sequence decoding inside a BatchDecoder. */
export class BatchStream {
  /** @internal */ state: Record<string, Feed>;
  /** @internal the token drawn last, fed at the next step */ pending = 0;
  /** @internal */ readonly tokens: number[];
  /** @internal tokens seen [V], only for a penalized stream */ seen: Float32Array | undefined;
  /** @internal */ readonly rng: Rng;

  /** @internal Made by `BatchDecoder.join`. */
  constructor(
    readonly id: number,
    readonly attrs: DrawAttrs,
    readonly logprobs: number | undefined,
    seed: number,
    state: Record<string, Feed>,
    tokens: number[],
  ) {
    this.state = state;
    this.tokens = tokens;
    this.rng = new Rng(seed);
  }

  /** Tokens this stream has been fed (its prompt, then every drawn token but the last). */
  get position(): number {
    return this.tokens.length;
  }
}

export interface BatchDecoderOptions {
  /** Most streams decoding at once (default 64). */
  readonly maxBatch?: number;
  /**
   * Batch sizes a step graph is compiled for (default: powers of two up to maxBatch, and maxBatch):
   * a step runs the smallest that holds every stream, the spare rows idle on a zero state.
   */
  readonly buckets?: readonly number[];
}

/**
 * Continuous batching over recurrent state: streams join after their prefill and leave when they
 * finish or are cancelled, between any two steps, without disturbing the others. Each stream keeps
 * its own state tensors (batch 1, on the backend); a step graph gathers them into the step's batch
 * (a concat inside the graph) and hands each row's new state back, so joining, leaving and
 * snapshotting a stream never copies another stream's state. One step graph is compiled per bucket
 * size and cached.
 *
 * A step is the model's step graph run on every stream at once, then one small draw run per
 * distinct sampling setting in the batch (`ops.sample` on the logits kept on the backend) and, when
 * a stream asks for log-probabilities, one run computing them on the backend; only token ids and
 * those few numbers are read back. Rows are independent, so on a deterministic backend (cpu) a
 * stream's tokens are bit for bit those it would draw alone, greedy or sampled (its own seed).
 *
 *     const batch = new BatchDecoder(lm, session, { maxBatch: 16 });
 *     const [{ stream, token }] = await batch.join(await lm.startDecoding(session, [prompt]), { temperature: 0.8, seed: 1 });
 *     const next = await batch.step(); // Map: stream → its next token
 *     batch.leave(stream);
 */
export class BatchDecoder {
  readonly maxBatch: number;
  readonly buckets: readonly number[];
  private readonly active: BatchStream[] = [];
  private readonly stepGraphs = new Map<number, Graph>();
  private readonly small = new Map<string, Graph>();
  private readonly stateNames: readonly string[];
  private readonly idle: Record<string, DeviceTensor>;
  private nextId = 0;
  /** Streams that left while a step was running: their state is released when it ends. */
  private readonly departed = new Set<BatchStream>();
  private stepping = false;

  constructor(
    readonly lm: CausalLM,
    readonly session: Session,
    options: BatchDecoderOptions = {},
  ) {
    this.maxBatch = options.maxBatch ?? 64;
    if (!Number.isInteger(this.maxBatch) || this.maxBatch < 1) throw new DenseSSMError(`BatchDecoder: maxBatch must be a positive integer, got ${this.maxBatch}`);
    const buckets = options.buckets ?? Array.from({ length: Math.ceil(Math.log2(this.maxBatch)) + 1 }, (_, i) => 2 ** i);
    if (buckets.some((b) => !Number.isInteger(b) || b < 1)) throw new DenseSSMError(`BatchDecoder: buckets must be positive integers, got ${buckets.join(", ")}`);
    this.buckets = [...new Set([...buckets.filter((b) => b < this.maxBatch), this.maxBatch])].sort((a, b) => a - b);
    this.stateNames = lm.model.states.map((s) => s.name);
    lm.bind(session);
    this.idle = Object.fromEntries(lm.model.states.map((s) => [s.name, session.backend.upload(Tensor.zeros(s.shape(1), s.dtype))]));
  }

  /** Streams decoding now. */
  get size(): number {
    return this.active.length;
  }

  get streams(): readonly BatchStream[] {
    return this.active;
  }

  /**
   * Takes the rows of a prefilled decoder (it is emptied; use `fork` first for several answers to
   * one prompt) or of a snapshot as new streams, and draws each one's first token from its logits.
   * `settings` holds one entry per row, or one for every row. The streams decode from the next step.
   */
  async join(source: GraphDecoder | DecoderSnapshot, settings: StreamSettings | readonly StreamSettings[]): Promise<{ stream: BatchStream; token: DrawnToken }[]> {
    const rows = source.batch;
    const list = Array.isArray(settings) ? (settings as readonly StreamSettings[]) : Array.from({ length: rows }, () => settings as StreamSettings);
    if (list.length !== rows) throw new DenseSSMError(`join: ${list.length} stream settings for ${rows} rows`);
    if (this.active.length + rows > this.maxBatch) throw new DenseSSMError(`join: ${rows} more stream(s) would exceed maxBatch ${this.maxBatch} (${this.active.length} decoding)`);
    const checked = list.map((s) => ({ attrs: drawAttrs(s), logprobs: checkLogprobs(s.logprobs), seed: s.seed ?? 0 }));
    const handed = source instanceof GraphDecoder ? source.handOver() : { state: { ...source.state } as Record<string, Feed>, logits: source.logits.reshape([rows, 1, source.logits.shape[1]!]), history: source.tokens.map((r) => [...r]) };
    const states = rows === 1 ? [handed.state] : await this.splitRows(handed.state, rows);
    const streams = checked.map((c, r) => new BatchStream(this.nextId++, c.attrs, c.logprobs, c.seed, states[r]!, handed.history[r]!));
    const width = handed.logits.shape[2]!;
    for (const s of streams) if (isPenalized(s.attrs)) s.seen = seenRow(s.tokens, width);
    try {
      const drawn = await this.draw(streams, handed.logits);
      this.active.push(...streams);
      return streams.map((stream, r) => ({ stream, token: drawn[r]! }));
    } catch (e) {
      for (const s of streams) this.releaseState(s.state);
      throw e;
    } finally {
      if (!(handed.logits instanceof Tensor)) this.session.backend.release(handed.logits);
    }
  }

  /** Feeds every stream the token it drew last and draws its next one. */
  async step(): Promise<Map<BatchStream, DrawnToken>> {
    const streams = [...this.active];
    if (streams.length === 0) return new Map();
    this.stepping = true;
    try {
      return await this.stepRows(streams, this.buckets.find((b) => b >= streams.length)!);
    } finally {
      this.stepping = false;
      for (const s of this.departed) {
        this.releaseState(s.state);
        s.state = {};
      }
      this.departed.clear();
    }
  }

  private async stepRows(streams: readonly BatchStream[], rows: number): Promise<Map<BatchStream, DrawnToken>> {
    const feeds: Record<string, Feed> = {
      input_ids: Tensor.int32(Array.from({ length: rows }, (_, r) => streams[r]?.pending ?? 0), [rows, 1]),
      ...this.lm.positionFeeds(Array.from({ length: rows }, (_, r) => streams[r]?.position ?? 0), 1),
    };
    for (let r = 0; r < rows; r++) for (const name of this.stateNames) feeds[rowName(pastName(name), r)] = streams[r]?.state[name] ?? this.idle[name]!;
    const result = await this.session.runOnDevice(this.stepGraph(rows), feeds);
    const logits = result.get("logits")!;
    for (let r = 0; r < rows; r++) {
      const next = Object.fromEntries(this.stateNames.map((name) => [name, result.get(rowName(presentName(name), r))!]));
      const s = streams[r];
      if (!s || this.departed.has(s)) {
        this.releaseState(next);
        continue;
      }
      this.releaseState(s.state);
      s.state = next;
      s.tokens.push(s.pending);
      if (s.seen) s.seen[s.pending] = 1;
    }
    try {
      const drawn = await this.draw(streams, logits, rows);
      return new Map(streams.flatMap((s, r) => (this.departed.has(s) ? [] : [[s, drawn[r]!] as const])));
    } finally {
      this.session.backend.release(logits);
    }
  }

  /**
   * Ends a stream (finished or cancelled): the next step is one row smaller, and its state is
   * released now, or when the step running at the moment ends (which then reports no token for it).
   */
  leave(stream: BatchStream): void {
    const at = this.active.indexOf(stream);
    if (at < 0) return;
    this.active.splice(at, 1);
    if (this.stepping) return void this.departed.add(stream);
    this.releaseState(stream.state);
    stream.state = {};
  }

  /** Ends every stream and releases what the decoder holds on the backend. */
  dispose(): void {
    for (const s of [...this.active]) this.leave(s);
    for (const t of Object.values(this.idle)) this.session.backend.release(t);
  }

  /**
   * Draws the next token of `streams` (rows 0..n-1 of logits [rows, L, V]): one draw run per
   * distinct setting, the uniforms from each stream's own generator, then log-probabilities for the
   * streams that want them.
   */
  private async draw(streams: readonly BatchStream[], logits: Feed, rows = streams.length): Promise<DrawnToken[]> {
    const [, l, v] = logits.shape as [number, number, number];
    const uniforms = new Float32Array(rows);
    streams.forEach((s, r) => (uniforms[r] = s.rng.uniform()));
    const ids = new Int32Array(rows);
    const groups = new Map<string, BatchStream[]>();
    for (const s of streams) groups.set(drawKey(s.attrs), [...(groups.get(drawKey(s.attrs)) ?? []), s]);
    for (const [key, members] of groups) {
      const attrs = members[0]!.attrs;
      const feeds: Record<string, Feed> = { logits, uniforms: new Tensor(uniforms, [rows], "float32") };
      if (isPenalized(attrs)) {
        const seen = new Float32Array(rows * v);
        streams.forEach((s, r) => s.seen && seen.set(s.seen, r * v));
        feeds.seen = new Tensor(seen, [rows, v], "float32");
      }
      const drawn = await this.session.run(this.cached(`draw:${rows}x${l}x${v}:${key}`, () => drawGraph([rows, l, v], attrs)), feeds);
      const picked = drawn.next_tokens!.data as Int32Array;
      streams.forEach((s, r) => members.includes(s) && (ids[r] = picked[r]!));
    }
    streams.forEach((s, r) => (s.pending = ids[r]!));
    const tokens: DrawnToken[] = streams.map((s) => ({ token: s.pending }));
    const wanting = streams.filter((s) => s.logprobs !== undefined);
    const widths = new Set(wanting.map((s) => s.attrs.vocabSize ?? this.lm.vocabSize));
    for (const width of widths) {
      const members = wanting.filter((s) => (s.attrs.vocabSize ?? this.lm.vocabSize) === width);
      const top = Math.max(...members.map((s) => s.logprobs!));
      const lp = await this.session.run(this.cached(`logprobs:${rows}x${l}x${v}:${width}:${top}`, () => logprobGraph([rows, l, v], width, top)), { logits, chosen: Tensor.int32(ids, [rows]) });
      for (const s of members) {
        const r = streams.indexOf(s);
        const k = s.logprobs!;
        const values = lp.top_logprobs?.data as Float32Array | undefined;
        const topIds = lp.top_ids?.data as Int32Array | undefined;
        tokens[r] = {
          token: ids[r]!,
          logprob: (lp.chosen_logprob!.data as Float32Array)[r]!,
          top: Array.from({ length: k }, (_, i) => ({ token: topIds![r * top + i]!, logprob: values![r * top + i]! })),
        };
      }
    }
    return tokens;
  }

  /** The model's step graph for `rows` rows, taking and returning each row's state separately. */
  private stepGraph(rows: number): Graph {
    let graph = this.stepGraphs.get(rows);
    if (!graph) this.stepGraphs.set(rows, (graph = statePerRow(this.lm.chunkGraph(rows, 1), this.stateNames, rows)));
    return graph;
  }

  /** Small graphs (draws, log-probabilities) by key; the oldest go first past 64, so odd settings cannot pile up. */
  private cached(key: string, build: () => Graph): Graph {
    let graph = this.small.get(key);
    if (graph) this.small.delete(key);
    else graph = build();
    this.small.set(key, graph);
    if (this.small.size > 64) this.small.delete(this.small.keys().next().value!);
    return graph;
  }

  /** One batch-1 state per row of a [rows, ...] state, split on the backend. */
  private async splitRows(state: Readonly<Record<string, Feed>>, rows: number): Promise<Record<string, Feed>[]> {
    const graph = this.cached(`split:${rows}`, () =>
      trace(
        (x) => Object.fromEntries(this.stateNames.flatMap((name) => Array.from({ length: rows }, (_, r) => [rowName(name, r), x[name]!.slice(0, r, r + 1)]))),
        { inputs: Object.fromEntries(this.lm.model.states.map((s) => [s.name, { shape: s.shape(rows), dtype: s.dtype }])) },
      ),
    );
    const out = await this.session.runOnDevice(graph, state);
    this.releaseState(state);
    return Array.from({ length: rows }, (_, r) => Object.fromEntries(this.stateNames.map((name) => [name, out.get(rowName(name, r))!])));
  }

  private releaseState(state: Readonly<Record<string, Feed>>): void {
    for (const t of Object.values(state)) if (!(t instanceof Tensor)) this.session.backend.release(t);
  }
}

/** Input / output name of one row's piece of a state. */
const rowName = (name: string, row: number) => `${name}#${row}`;

/**
 * `step` (a chunk graph) with every `past_<state>` input [rows, ...] replaced by one input per row
 * [1, ...] (`past_<state>#r`, concatenated inside the graph) and every `present_<state>` output by
 * one output per row: streams keep separate state tensors, and the batch is gathered per step.
 */
export function statePerRow(step: Graph, states: readonly string[], rows: number): Graph {
  const past = new Set(states.map(pastName));
  const present = new Set(states.map(presentName));
  const builder = new GraphBuilder();
  const map: SymTensor[] = [];
  for (const node of step.nodes) {
    const name = node.op === "input" ? (node.attrs.name as string) : "";
    if (past.has(name)) {
      const parts = Array.from({ length: rows }, (_, r) => builder.input(rowName(name, r), [1, ...node.shape.slice(1)], node.dtype));
      map[node.id] = concat(parts, 0);
    } else map[node.id] = replayNode(node, builder, map);
  }
  for (const o of step.outputs) {
    if (present.has(o.name)) for (let r = 0; r < rows; r++) builder.output(rowName(o.name, r), map[o.id]!.slice(0, r, r + 1));
    else builder.output(o.name, map[o.id]!);
  }
  return builder.build();
}

function seenRow(tokens: readonly number[], width: number): Float32Array {
  const seen = new Float32Array(width);
  for (const t of tokens) if (t >= 0 && t < width) seen[t] = 1;
  return seen;
}

function checkLogprobs(n: number | undefined): number | undefined {
  if (n !== undefined && !(Number.isInteger(n) && n >= 0 && n <= MAX_TOP_LOGPROBS)) throw new DenseSSMError(`logprobs must be an integer in [0, ${MAX_TOP_LOGPROBS}], got ${n}`);
  return n;
}
