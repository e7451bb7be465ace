import { DenseSSMError } from "../errors.js";
import type { Graph } from "../graph/graph.js";
import { trace } from "../graph/symbolic.js";
import { gather } from "../ops/indexing.js";
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
    tokens: number[],
  ) {
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
   * a step runs the smallest that holds every stream, the spare rows idle.
   */
  readonly buckets?: readonly number[];
}

/**
 * Continuous batching over recurrent state: streams join after their prefill and leave when they
 * finish or are cancelled, between any two steps, without disturbing the others.
 *
 * The streams' states live together as the batch's state tensors ([rows, ...] per StateSpec, on
 * the backend), one row (slot) per stream, so a step is the model's own step graph for `rows` rows
 * with nothing added: no per-stream copies. A joining stream's state is gathered into a free slot,
 * a leaving stream's slot just idles, and when the streams fit a smaller bucket (or need a bigger
 * one) the rows are regathered once (one small gather graph). One step graph per bucket size is
 * compiled and cached.
 *
 * A step is that graph run on every slot, then one small draw run per distinct sampling setting in
 * the batch (`ops.sample` on the logits kept on the backend) and, when a stream asks for
 * log-probabilities, one run computing them on the backend; only token ids and those few numbers
 * are read back. Rows are independent, so on a deterministic backend (cpu) a stream's tokens are
 * bit for bit those it draws alone, greedy or sampled (its own seed).
 *
 * `join` and `step` must not overlap (one loop drives both); `leave` may come at any time.
 *
 *     const batch = new BatchDecoder(lm, session, { maxBatch: 16 });
 *     const [{ stream, token }] = await batch.join(await lm.startDecoding(session, [prompt]), { temperature: 0.8, seed: 1 });
 *     const next = await batch.step(); // Map: stream → its next token
 *     batch.leave(stream);
 */
export class BatchDecoder {
  readonly maxBatch: number;
  readonly buckets: readonly number[];
  /** The stream in each row of the batch state (undefined: an idle row). */
  private slots: (BatchStream | undefined)[] = [];
  /** Every stream's state: [slots.length, ...] per state name (empty while no stream decodes). */
  private state: Record<string, Feed> = {};
  private readonly graphs = new Map<string, Graph>();
  private readonly stateNames: readonly string[];
  private nextId = 0;

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
  }

  /** Streams decoding now. */
  get size(): number {
    return this.streams.length;
  }

  get streams(): readonly BatchStream[] {
    return this.slots.filter((s): s is BatchStream => s !== undefined);
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
    if (this.size + rows > this.maxBatch) throw new DenseSSMError(`join: ${rows} more stream(s) would exceed maxBatch ${this.maxBatch} (${this.size} decoding)`);
    const checked = list.map((s) => ({ attrs: drawAttrs(s), logprobs: checkLogprobs(s.logprobs), seed: s.seed ?? 0 }));
    const handed = source instanceof GraphDecoder ? source.handOver() : { state: { ...source.state } as Record<string, Feed>, logits: source.logits.reshape([rows, 1, source.logits.shape[1]!]), history: source.tokens.map((r) => [...r]) };
    const streams = checked.map((c, r) => new BatchStream(this.nextId++, c.attrs, c.logprobs, c.seed, handed.history[r]!));
    const width = handed.logits.shape[2]!;
    for (const s of streams) if (isPenalized(s.attrs)) s.seen = seenRow(s.tokens, width);
    try {
      const drawn = await this.draw(streams, handed.logits);
      await this.regather(streams, handed.state);
      return streams.map((stream, r) => ({ stream, token: drawn[r]! }));
    } finally {
      this.release(handed.state);
      if (!(handed.logits instanceof Tensor)) this.session.backend.release(handed.logits);
    }
  }

  /** Feeds every stream the token it drew last and draws its next one. */
  async step(): Promise<Map<BatchStream, DrawnToken>> {
    if (this.size === 0) {
      this.dispose(); // nothing left to decode: the batch state goes
      return new Map();
    }
    if (this.bucketFor(this.size) < this.slots.length) await this.regather();
    const slots = [...this.slots];
    const rows = slots.length;
    const feeds: Record<string, Feed> = {
      input_ids: Tensor.int32(slots.map((s) => s?.pending ?? 0), [rows, 1]),
      ...this.lm.positionFeeds(slots.map((s) => s?.position ?? 0), 1),
    };
    for (const name of this.stateNames) feeds[pastName(name)] = this.state[name]!;
    const result = await this.session.runOnDevice(this.lm.chunkGraph(rows, 1), feeds);
    const logits = result.get("logits")!;
    this.release(this.state);
    this.state = Object.fromEntries(this.stateNames.map((name) => [name, result.get(presentName(name))!]));
    for (const s of slots) {
      if (!s) continue;
      s.tokens.push(s.pending);
      if (s.seen) s.seen[s.pending] = 1;
    }
    try {
      const drawn = await this.draw(slots, logits);
      // A stream that left during the step gets no token.
      return new Map(slots.flatMap((s, r) => (s && this.slots[r] === s ? [[s, drawn[r]!] as const] : [])));
    } finally {
      this.session.backend.release(logits);
    }
  }

  /** Ends a stream (finished or cancelled): its row idles from the next step on, and no token is reported for it. */
  leave(stream: BatchStream): void {
    const at = this.slots.indexOf(stream);
    if (at >= 0) this.slots[at] = undefined;
  }

  /** Ends every stream and releases what the decoder holds on the backend. */
  dispose(): void {
    this.slots = [];
    this.release(this.state);
    this.state = {};
  }

  private bucketFor(count: number): number {
    return this.buckets.find((b) => b >= count)!;
  }

  /**
   * Gathers the streams still decoding, and `joining` (whose state is `incoming`, [k, ...]), into
   * rows 0.. of a batch of the smallest bucket that holds them all; the spare rows copy row 0.
   */
  private async regather(joining: readonly BatchStream[] = [], incoming: Readonly<Record<string, Feed>> = {}): Promise<void> {
    const staying = this.streams;
    const order = [...staying, ...joining];
    const rows = order.length === 0 ? 0 : this.bucketFor(order.length);
    const old = this.slots.length;
    const k = joining.length;
    if (rows === 0) return this.dispose();
    const index = [...staying.map((s) => this.slots.indexOf(s)), ...joining.map((_, i) => old + i)];
    while (index.length < rows) index.push(index[0]!);
    const graph = this.cached(`regather:${old}:${k}:${rows}`, () =>
      trace(
        (x) =>
          Object.fromEntries(
            this.lm.model.states.map((s) => {
              const parts = [...(old ? [x[`old.${s.name}`]!] : []), ...(k ? [x[`new.${s.name}`]!] : [])];
              return [s.name, gather(concat(parts, 0), x.index!, 0)];
            }),
          ),
        {
          inputs: {
            index: { shape: [rows], dtype: "int32" },
            ...Object.fromEntries(this.lm.model.states.flatMap((s) => [...(old ? [[`old.${s.name}`, { shape: s.shape(old), dtype: s.dtype }]] : []), ...(k ? [[`new.${s.name}`, { shape: s.shape(k), dtype: s.dtype }]] : [])])),
          },
        },
      ),
    );
    const feeds: Record<string, Feed> = { index: Tensor.int32(index, [rows]) };
    for (const name of this.stateNames) {
      if (old) feeds[`old.${name}`] = this.state[name]!;
      if (k) feeds[`new.${name}`] = incoming[name]!;
    }
    const out = await this.session.runOnDevice(graph, feeds);
    this.release(this.state);
    this.state = Object.fromEntries(this.stateNames.map((name) => [name, out.get(name)!]));
    this.slots = [...order, ...new Array<undefined>(rows - order.length).fill(undefined)];
  }

  /**
   * Draws the next token of the streams in `slots` (row r of logits [rows, L, V]): one draw run per
   * distinct setting, the uniforms from each stream's own generator, then log-probabilities for the
   * streams that want them.
   */
  private async draw(slots: readonly (BatchStream | undefined)[], logits: Feed): Promise<DrawnToken[]> {
    const [rows, l, v] = logits.shape as [number, number, number];
    const uniforms = new Float32Array(rows);
    slots.forEach((s, r) => s && (uniforms[r] = s.rng.uniform()));
    const ids = new Int32Array(rows);
    const groups = new Map<string, DrawAttrs>();
    for (const s of slots) if (s) groups.set(drawKey(s.attrs), s.attrs);
    for (const [key, attrs] of groups) {
      const feeds: Record<string, Feed> = { logits, uniforms: new Tensor(uniforms, [rows], "float32") };
      if (isPenalized(attrs)) {
        const seen = new Float32Array(rows * v);
        slots.forEach((s, r) => s?.seen && seen.set(s.seen, r * v));
        feeds.seen = new Tensor(seen, [rows, v], "float32");
      }
      const picked = (await this.session.run(this.cached(`draw:${rows}x${l}x${v}:${key}`, () => drawGraph([rows, l, v], attrs)), feeds)).next_tokens!.data as Int32Array;
      slots.forEach((s, r) => s && drawKey(s.attrs) === key && (ids[r] = picked[r]!));
    }
    const tokens: DrawnToken[] = slots.map((s, r) => {
      if (s) s.pending = ids[r]!;
      return { token: ids[r]! };
    });
    const wanting = slots.flatMap((s, r) => (s?.logprobs !== undefined ? [[s, r] as const] : []));
    for (const width of new Set(wanting.map(([s]) => s.attrs.vocabSize ?? this.lm.vocabSize))) {
      const members = wanting.filter(([s]) => (s.attrs.vocabSize ?? this.lm.vocabSize) === width);
      const top = Math.max(...members.map(([s]) => s.logprobs!));
      const lp = await this.session.run(this.cached(`logprobs:${rows}x${l}x${v}:${width}:${top}`, () => logprobGraph([rows, l, v], width, top)), { logits, chosen: Tensor.int32(ids, [rows]) });
      const chosen = lp.chosen_logprob!.data as Float32Array;
      const values = lp.top_logprobs?.data as Float32Array | undefined;
      const topIds = lp.top_ids?.data as Int32Array | undefined;
      for (const [s, r] of members) {
        tokens[r] = { token: ids[r]!, logprob: chosen[r]!, top: Array.from({ length: s.logprobs! }, (_, i) => ({ token: topIds![r * top + i]!, logprob: values![r * top + i]! })) };
      }
    }
    return tokens;
  }

  /** Small graphs (draws, log-probabilities, regathers) by key; the oldest go first past 64, so odd settings cannot pile up. */
  private cached(key: string, build: () => Graph): Graph {
    let graph = this.graphs.get(key);
    if (graph) this.graphs.delete(key);
    else graph = build();
    this.graphs.set(key, graph);
    if (this.graphs.size > 64) this.graphs.delete(this.graphs.keys().next().value!);
    return graph;
  }

  private release(state: Readonly<Record<string, Feed>>): void {
    for (const t of Object.values(state)) if (!(t instanceof Tensor)) this.session.backend.release(t);
  }
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
