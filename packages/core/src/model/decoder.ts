import type { DeviceTensor } from "../backend/backend.js";
import { DenseSSMError, ShapeError } from "../errors.js";
import type { Graph } from "../graph/graph.js";
import type { SymTensor } from "../graph/symbolic.js";
import { rebuild } from "../graph/transform.js";
import type { Feed, Session } from "../runtime/session.js";
import { formatShape, sameShape } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { drawAttrs, drawFrom, drawGraph, drawKey, isPenalized, markSeen, type DrawAttrs } from "./draw.js";
import { lastPosition } from "./logits.js";
import { DecoderSnapshot } from "./snapshot.js";
import { pastName, presentName } from "./state-names.js";
import { checkTokenIds } from "./token-ids.js";

/**
 * A draw made on the backend by `ops.sample` (see there): temperature 0 (the default) is greedy,
 * topK 0 and topP 1 (the defaults) are off. `uniforms` holds one number in [0, 1) per row.
 */
export interface TokenDraw {
  readonly temperature?: number;
  readonly topK?: number;
  readonly topP?: number;
  /**
   * > 1 discourages every token already in the row (prompt and generated): its logit is divided
   * by the penalty when positive and multiplied by it otherwise (CTRL / transformers). Applied on
   * the backend, before temperature and the filters. Default 1 (off).
   */
  readonly repetitionPenalty?: number;
  /** Only the first `vocabSize` logits are candidates (models may pad their vocabulary). */
  readonly vocabSize?: number;
  readonly uniforms: Float32Array;
}

/** Incremental decoding: the state after the tokens fed so far, kept on the backend. */
export interface Decoder {
  readonly batch: number;
  /** Tokens fed so far per row (the prompt length after prefill). */
  readonly position: number;
  /** Feeds several tokens per row (equally many), in chunks: a prompt, or the rest of one. */
  feed(tokens: readonly (readonly number[])[]): Promise<void>;
  /** Logits [batch, vocab] for the next token of each row, read back from the backend. */
  logits(): Promise<Tensor>;
  /** Draws the next token of each row on the backend from the current logits; only the ids are read back. */
  sample(draw: TokenDraw): Promise<Int32Array>;
  /**
   * Feeds one token per row. With a draw, the same graph run also draws the token that follows
   * (so a decoded token costs one run and a read of `batch` ids) and returns it.
   */
  step(tokens: readonly number[]): Promise<void>;
  step(tokens: readonly number[], draw: TokenDraw): Promise<Int32Array>;
  /**
   * Where this decoder stands (every row's state, position, next-token logits and tokens fed),
   * copied to host memory. Continuing from it with `restore`, `fork` or `lm.resumeDecoding` gives
   * bit for bit what continuing here gives.
   */
  snapshot(): Promise<DecoderSnapshot>;
  /** Goes back (or over) to a snapshot with as many rows, of the same model. */
  restore(snapshot: DecoderSnapshot): void;
  /**
   * A new decoder holding `copies` continuations of each row (row r·copies + i continues row r):
   * several answers to one prompt, prefilled once. This decoder is unchanged.
   */
  fork(copies: number): Promise<Decoder>;
  /** Releases what the decoder holds on the backend. */
  dispose(): void;
}

export interface GraphDecoderOptions {
  readonly session: Session;
  /**
   * `length` tokens continuing from a state: int32 `input_ids` [B, T], the position feeds and
   * `past_<state>` give `logits` [B, T, V] and `present_<state>` (see CausalLM.chunkGraph).
   */
  readonly chunkGraph: (batch: number, length: number) => Graph;
  /** Most tokens per row `feed` runs through one chunk graph. */
  readonly chunkSize: number;
  /** Token ids are checked against it before any graph runs. */
  readonly vocabSize: number;
  /** The states' names (see StateSpec). */
  readonly states: readonly string[];
  /** The chunk graphs' position feeds, [B, T, ...row], for rows starting at `starts`. */
  readonly positionFeeds?: (starts: readonly number[], length: number) => Record<string, Tensor>;
  /** Where decoding starts: every state by name, on the backend or the host. */
  readonly state: Readonly<Record<string, Feed>>;
  /** The tokens each row has been fed (equally many; empty rows for a zero state). */
  readonly history: readonly (readonly number[])[];
  /** Logits [B, L, V] whose last position predicts the next token; absent until a token is fed. */
  readonly logits?: Feed;
}

/** What every decoder of one model shares: GraphDecoderOptions without where it starts. */
export type DecoderSetup = Omit<GraphDecoderOptions, "state" | "history" | "logits">;

/** What a decoder hands over when another one (BatchDecoder) takes its rows. */
export interface DecoderHandover {
  readonly state: Record<string, Feed>;
  readonly logits: Feed;
  readonly history: number[][];
}

/**
 * The decoder every model family shares: the state and the logits stay on the backend between
 * steps, and a draw is one more node in the step graph (`ops.sample`), so decoding a token is one
 * graph run whose only read-back is `batch` token ids. A repetition penalty keeps a [B, V] mask of
 * the tokens seen on the backend too, updated inside the step graph from its own input ids.
 */
export class GraphDecoder implements Decoder {
  readonly batch: number;
  private readonly options: GraphDecoderOptions;
  private readonly session: Session;
  private state: Record<string, Feed>;
  private current: Feed | undefined;
  private fed: number;
  private history: number[][];
  /** The tokens seen per row as a 0/1 mask [B, V], held only while penalized draws continue. */
  private seen: DeviceTensor | undefined;
  private readonly graphs = new Map<string, Graph>();

  constructor(options: GraphDecoderOptions) {
    this.options = options;
    this.session = options.session;
    this.state = { ...options.state };
    this.current = options.logits;
    this.batch = options.history.length;
    if (this.batch === 0) throw new DenseSSMError("GraphDecoder: history needs one row per batch row");
    this.history = options.history.map((row) => [...row]);
    this.fed = this.history[0]!.length;
    if (this.history.some((row) => row.length !== this.fed)) throw new ShapeError("GraphDecoder: every row must have been fed equally many tokens");
  }

  get position(): number {
    return this.fed;
  }

  async feed(tokens: readonly (readonly number[])[]): Promise<void> {
    const [batch, length] = checkTokenIds(tokens, this.options.vocabSize, "feed");
    if (batch !== this.batch) throw new DenseSSMError(`feed: expected ${this.batch} rows, got ${batch}`);
    this.dropSeen();
    for (let start = 0; start < length; start += this.options.chunkSize) {
      const chunk = tokens.map((row) => row.slice(start, start + this.options.chunkSize));
      await this.run(this.options.chunkGraph(batch, chunk[0]!.length), chunk);
    }
  }

  async logits(): Promise<Tensor> {
    const current = this.currentLogits("logits");
    return lastPosition(current instanceof Tensor ? current : await this.session.backend.download(current));
  }

  async sample(draw: TokenDraw): Promise<Int32Array> {
    const attrs = this.checkDraw(draw);
    const current = this.currentLogits("sample");
    const [b, l, v] = current.shape as [number, number, number];
    const graph = this.cached(`draw:${l}x${v}:${drawKey(attrs)}`, () => drawGraph([b, l, v], attrs));
    const feeds: Record<string, Feed> = { logits: current, uniforms: new Tensor(draw.uniforms, [b], "float32") };
    if (isPenalized(attrs)) feeds.seen = this.seenMask(v);
    const out = await this.session.runOnDevice(graph, feeds);
    return this.readIds(out.get("next_tokens")!);
  }

  step(tokens: readonly number[]): Promise<void>;
  step(tokens: readonly number[], draw: TokenDraw): Promise<Int32Array>;
  async step(tokens: readonly number[], draw?: TokenDraw): Promise<Int32Array | void> {
    if (tokens.length !== this.batch) throw new DenseSSMError(`step: expected ${this.batch} tokens (one per row), got ${tokens.length}`);
    const attrs = draw && this.checkDraw(draw);
    const penalized = attrs !== undefined && isPenalized(attrs);
    if (!penalized) this.dropSeen();
    const stepGraph = this.options.chunkGraph(this.batch, 1);
    const extra: Record<string, Feed> = {};
    if (draw) extra.uniforms = new Tensor(draw.uniforms, [this.batch], "float32");
    if (penalized) extra.seen = this.seenMask(logitsWidth(stepGraph));
    const out = await this.run(attrs ? this.withDraw(stepGraph, attrs) : stepGraph, tokens.map((t) => [t]), extra);
    if (penalized) this.seen = out.get("seen_next");
    if (attrs) return this.readIds(out.get("next_tokens")!);
  }

  async snapshot(): Promise<DecoderSnapshot> {
    const current = this.currentLogits("snapshot");
    const host = async (t: Feed) => (t instanceof Tensor ? t : await this.session.backend.download(t));
    const state: Record<string, Tensor> = {};
    for (const name of this.options.states) state[name] = await host(this.state[name]!);
    return new DecoderSnapshot(state, lastPosition(await host(current)), this.history.map((row) => [...row]));
  }

  restore(snapshot: DecoderSnapshot): void {
    if (snapshot.batch !== this.batch) throw new DenseSSMError(`restore: the snapshot has ${snapshot.batch} rows, this decoder ${this.batch}`);
    checkSnapshotFits(snapshot, this.options);
    this.releaseHeld();
    this.dropSeen();
    const { state, current, history } = fromSnapshot(snapshot);
    this.state = state;
    this.current = current;
    this.history = history;
    this.fed = snapshot.position;
  }

  async fork(copies: number): Promise<GraphDecoder> {
    if (!Number.isInteger(copies) || copies < 1) throw new DenseSSMError(`fork: copies must be a positive integer, got ${copies}`);
    const rows = Array.from({ length: this.batch * copies }, (_, i) => Math.floor(i / copies));
    return decoderFromSnapshot(this.options, (await this.snapshot()).select(rows));
  }

  /**
   * @internal Hands the state, logits and history over to another owner (BatchDecoder) without a
   * copy; this decoder is empty afterwards.
   */
  handOver(): DecoderHandover {
    const out = { state: this.state, logits: this.currentLogits("handOver"), history: this.history };
    this.dropSeen();
    this.state = {};
    this.current = undefined;
    this.history = [];
    return out;
  }

  /** Releases the state and logits held on the backend; the decoder is unusable afterwards. */
  dispose(): void {
    this.releaseHeld();
    this.dropSeen();
    this.state = {};
    this.current = undefined;
  }

  /** Runs a chunk graph (or a step graph with a draw) on `tokens` from the current state and moves past them. */
  private async run(graph: Graph, tokens: readonly (readonly number[])[], extra: Record<string, Feed> = {}): Promise<Map<string, DeviceTensor>> {
    const length = tokens[0]!.length;
    const feeds: Record<string, Feed> = { input_ids: Tensor.int32(tokens.flat(), [this.batch, length]), ...this.positions(length), ...extra };
    for (const name of this.options.states) feeds[pastName(name)] = this.state[name]!;
    const out = await this.session.runOnDevice(graph, feeds);
    this.releaseHeld();
    this.state = Object.fromEntries(this.options.states.map((name) => [name, out.get(presentName(name))!]));
    this.current = out.get("logits")!;
    tokens.forEach((row, b) => this.history[b]!.push(...row));
    this.fed += length;
    return out;
  }

  private positions(length: number): Record<string, Tensor> {
    return this.options.positionFeeds?.(new Array<number>(this.batch).fill(this.fed), length) ?? {};
  }

  private currentLogits(what: string): Feed {
    if (!this.current) throw new DenseSSMError(`${what}: nothing has been fed yet (feed a prompt first)`);
    return this.current;
  }

  private releaseHeld(): void {
    for (const t of [this.current, ...Object.values(this.state)]) if (t && !(t instanceof Tensor)) this.session.backend.release(t);
  }

  private dropSeen(): void {
    if (this.seen) this.session.backend.release(this.seen);
    this.seen = undefined;
  }

  /** The seen-token mask: kept on the backend between penalized steps, else built from the history. */
  private seenMask(vocab: number): Feed {
    return this.seen ?? seenMask(this.history, vocab);
  }

  private cached(key: string, build: () => Graph): Graph {
    let graph = this.graphs.get(key);
    if (!graph) this.graphs.set(key, (graph = build()));
    return graph;
  }

  private checkDraw(draw: TokenDraw): DrawAttrs {
    if (draw.uniforms.length !== this.batch) throw new DenseSSMError(`draw: expected ${this.batch} uniforms (one per row), got ${draw.uniforms.length}`);
    return drawAttrs(draw);
  }

  /**
   * The step graph with a `uniforms` input and a `next_tokens` output drawn from its logits; with
   * a repetition penalty also a `seen` input and its update `seen_next` (the input ids marked).
   */
  private withDraw(stepGraph: Graph, attrs: DrawAttrs): Graph {
    return this.cached(`step:${drawKey(attrs)}`, () => {
      const { builder, map } = rebuild(stepGraph);
      const logitsOut = stepGraph.outputs.find((o) => o.name === "logits");
      const idsIn = stepGraph.inputs.find((i) => i.name === "input_ids");
      if (!logitsOut || !idsIn) throw new DenseSSMError('GraphDecoder: the step graph needs an "input_ids" input and a "logits" output');
      const logits = map[logitsOut.id]!;
      const [b, , v] = logits.shape as [number, number, number];
      let seen: SymTensor | undefined;
      if (isPenalized(attrs)) {
        seen = builder.run(() => markSeen(builder.input("seen", [b, v]), map[idsIn.id]!));
        builder.output("seen_next", seen);
      }
      builder.output("next_tokens", builder.run(() => drawFrom(logits, builder.input("uniforms", [b]), attrs, seen)));
      return builder.build();
    });
  }

  private async readIds(t: DeviceTensor): Promise<Int32Array> {
    try {
      return (await this.session.backend.download(t)).data as Int32Array;
    } finally {
      this.session.backend.release(t);
    }
  }
}

/** A 0/1 mask [B, V] of the tokens in each row. */
export function seenMask(history: readonly (readonly number[])[], vocab: number): Tensor {
  const mask = new Float32Array(history.length * vocab);
  history.forEach((row, b) => row.forEach((t) => t >= 0 && t < vocab && (mask[b * vocab + t] = 1)));
  return new Tensor(mask, [history.length, vocab], "float32");
}

/** A decoder continuing from a snapshot (checked against the step graph's state shapes). */
export function decoderFromSnapshot(options: DecoderSetup, snapshot: DecoderSnapshot): GraphDecoder {
  checkSnapshotFits(snapshot, options);
  const { state, current, history } = fromSnapshot(snapshot);
  return new GraphDecoder({ ...options, state, logits: current, history });
}

function fromSnapshot(snapshot: DecoderSnapshot): { state: Record<string, Feed>; current: Tensor; history: number[][] } {
  const [b, v] = snapshot.logits.shape as [number, number];
  return { state: { ...snapshot.state }, current: snapshot.logits.reshape([b, 1, v]), history: snapshot.tokens.map((row) => [...row]) };
}

/** The snapshot holds exactly the states the step graph takes, with its shapes and dtypes, and logits of its width. */
function checkSnapshotFits(snapshot: DecoderSnapshot, options: DecoderSetup): void {
  const graph = options.chunkGraph(snapshot.batch, 1);
  const names = Object.keys(snapshot.state);
  const extra = names.filter((n) => !options.states.includes(n));
  if (extra.length) throw new DenseSSMError(`the snapshot holds state(s) this model does not have: ${extra.join(", ")}`);
  for (const name of options.states) {
    const t = snapshot.state[name];
    if (!t) throw new DenseSSMError(`the snapshot has no state "${name}"`);
    const input = graph.inputs.find((i) => i.name === pastName(name))!;
    const node = graph.nodes[input.id]!;
    if (!sameShape(t.shape, node.shape) || t.dtype !== node.dtype) throw new ShapeError(`the snapshot's state "${name}" is ${t.dtype}${formatShape(t.shape)}, this model's is ${node.dtype}${formatShape(node.shape)}`);
  }
  const width = logitsWidth(graph);
  if (snapshot.logits.shape[1] !== width) throw new ShapeError(`the snapshot's logits have ${snapshot.logits.shape[1]} entries, this model's ${width}`);
  if (snapshot.tokens.some((row) => row.some((t) => !Number.isInteger(t) || t < 0 || t >= options.vocabSize))) throw new DenseSSMError(`the snapshot's tokens are not all in [0, ${options.vocabSize})`);
}

/** V of a chunk graph's logits [B, T, V]. */
export function logitsWidth(graph: Graph): number {
  const out = graph.outputs.find((o) => o.name === "logits");
  if (!out) throw new DenseSSMError('the chunk graph has no "logits" output');
  return graph.nodes[out.id]!.shape[2]!;
}
