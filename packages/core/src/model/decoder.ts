import type { DeviceTensor } from "../backend/backend.js";
import { DenseSSMError } from "../errors.js";
import type { Graph } from "../graph/graph.js";
import { trace, type SymTensor } from "../graph/symbolic.js";
import { rebuild } from "../graph/transform.js";
import { arange } from "../ops/composites.js";
import { equal, less, maximum, where } from "../ops/elementwise.js";
import { checkSampleAttrs, sample, type SampleAttrs } from "../ops/sample.js";
import type { Feed, Session } from "../runtime/session.js";
import { Tensor } from "../tensor/tensor.js";
import { lastPosition } from "./logits.js";
import { pastName, presentName } from "./state-names.js";

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
  /** Releases what the decoder holds on the backend. */
  dispose(): void;
}

export interface GraphDecoderOptions {
  readonly session: Session;
  /**
   * One decoding step: int32 `input_ids` [B, 1], the position feeds and `past_<state>` give
   * `logits` [B, 1, V] and `present_<state>`.
   */
  readonly stepGraph: Graph;
  /** The states' names (see StateSpec). */
  readonly states: readonly string[];
  /** The step graph's feeds that depend on the position. */
  readonly positionFeeds?: (position: number) => Record<string, Tensor>;
  /** What the prefill left: logits [B, L, V] whose last position predicts the next token, and the state by name. */
  readonly logits: Feed;
  readonly state: Readonly<Record<string, Feed>>;
  /** The tokens each row has been fed (the prompts): the repetition penalty's history. */
  readonly history: readonly (readonly number[])[];
}

/**
 * The decoder every model family shares: the state and the logits stay on the backend between
 * steps, and a draw is one more node in the step graph (`ops.sample`), so decoding a token is one
 * graph run whose only read-back is `batch` token ids. A repetition penalty keeps a [B, V] mask of
 * the tokens seen on the backend too, updated inside the step graph from its own input ids.
 */
export class GraphDecoder implements Decoder {
  readonly batch: number;
  private readonly session: Session;
  private readonly stepGraph: Graph;
  private readonly states: readonly string[];
  private readonly positionFeeds: (position: number) => Record<string, Tensor>;
  private state: Record<string, Feed>;
  private current: Feed;
  private fed: number;
  private readonly history: number[][];
  /** The tokens seen per row as a 0/1 mask [B, V], held only while penalized draws continue. */
  private seen: DeviceTensor | undefined;
  private readonly graphs = new Map<string, Graph>();

  constructor(options: GraphDecoderOptions) {
    this.session = options.session;
    this.stepGraph = options.stepGraph;
    this.states = options.states;
    this.positionFeeds = options.positionFeeds ?? (() => ({}));
    this.state = { ...options.state };
    this.current = options.logits;
    this.batch = options.logits.shape[0]!;
    this.history = options.history.map((row) => [...row]);
    this.fed = Math.max(0, ...this.history.map((row) => row.length));
  }

  get position(): number {
    return this.fed;
  }

  async logits(): Promise<Tensor> {
    const all = this.current instanceof Tensor ? this.current : await this.session.backend.download(this.current);
    return lastPosition(all);
  }

  async sample(draw: TokenDraw): Promise<Int32Array> {
    const attrs = this.checkDraw(draw);
    const [b, l, v] = this.current.shape as [number, number, number];
    const penalized = attrs.repetitionPenalty !== 1;
    const graph = this.cached(`draw:${l}x${v}:${drawKey(attrs)}`, () =>
      trace((x) => ({ next_tokens: drawFrom(x.logits!, x.uniforms!, attrs, x.seen) }), {
        inputs: { logits: { shape: [b, l, v] }, uniforms: { shape: [b] }, ...(penalized ? { seen: { shape: [b, v] } } : {}) },
      }),
    );
    const feeds: Record<string, Feed> = { logits: this.current, uniforms: new Tensor(draw.uniforms, [b], "float32") };
    if (penalized) feeds.seen = this.seenMask(v);
    const out = await this.session.runOnDevice(graph, feeds);
    return this.readIds(out.get("next_tokens")!);
  }

  step(tokens: readonly number[]): Promise<void>;
  step(tokens: readonly number[], draw: TokenDraw): Promise<Int32Array>;
  async step(tokens: readonly number[], draw?: TokenDraw): Promise<Int32Array | void> {
    if (tokens.length !== this.batch) throw new DenseSSMError(`step: expected ${this.batch} tokens (one per row), got ${tokens.length}`);
    const attrs = draw && this.checkDraw(draw);
    const penalized = attrs !== undefined && attrs.repetitionPenalty !== 1;
    if (!penalized) this.dropSeen();
    const feeds: Record<string, Feed> = { input_ids: Tensor.int32(tokens, [this.batch, 1]), ...this.positionFeeds(this.fed) };
    for (const name of this.states) feeds[pastName(name)] = this.state[name]!;
    if (draw) feeds.uniforms = new Tensor(draw.uniforms, [this.batch], "float32");
    if (penalized) feeds.seen = this.seenMask(this.vocabWidth());
    const out = await this.session.runOnDevice(attrs ? this.withDraw(attrs) : this.stepGraph, feeds);
    this.releaseHeld();
    this.state = Object.fromEntries(this.states.map((name) => [name, out.get(presentName(name))!]));
    this.current = out.get("logits")!;
    if (penalized) this.seen = out.get("seen_next");
    tokens.forEach((t, row) => this.history[row]!.push(t));
    this.fed++;
    if (attrs) return this.readIds(out.get("next_tokens")!);
  }

  /** Releases the state and logits held on the backend; the decoder is unusable afterwards. */
  dispose(): void {
    this.releaseHeld();
    this.dropSeen();
    this.state = {};
  }

  private releaseHeld(): void {
    for (const t of [this.current, ...Object.values(this.state)]) if (!(t instanceof Tensor)) this.session.backend.release(t);
  }

  private dropSeen(): void {
    if (this.seen) this.session.backend.release(this.seen);
    this.seen = undefined;
  }

  private vocabWidth(): number {
    return this.current.shape[2]!;
  }

  /** The seen-token mask: kept on the backend between penalized steps, else built from the history. */
  private seenMask(vocab: number): Feed {
    if (this.seen) return this.seen;
    const mask = new Float32Array(this.batch * vocab);
    this.history.forEach((row, b) => row.forEach((t) => t >= 0 && t < vocab && (mask[b * vocab + t] = 1)));
    return new Tensor(mask, [this.batch, vocab], "float32");
  }

  private cached(key: string, build: () => Graph): Graph {
    let graph = this.graphs.get(key);
    if (!graph) this.graphs.set(key, (graph = build()));
    return graph;
  }

  private checkDraw(draw: TokenDraw): DrawAttrs {
    if (draw.uniforms.length !== this.batch) throw new DenseSSMError(`draw: expected ${this.batch} uniforms (one per row), got ${draw.uniforms.length}`);
    const attrs: SampleAttrs = { temperature: draw.temperature ?? 0, topK: draw.topK ?? 0, topP: draw.topP ?? 1 };
    checkSampleAttrs(attrs);
    const penalty = draw.repetitionPenalty ?? 1;
    if (!(Number.isFinite(penalty) && penalty > 0)) throw new DenseSSMError(`draw: repetitionPenalty must be a positive number, got ${penalty}`);
    const vocab = draw.vocabSize;
    if (vocab !== undefined && !(Number.isInteger(vocab) && vocab >= 1)) throw new DenseSSMError(`draw: vocabSize must be a positive integer, got ${vocab}`);
    return { ...attrs, repetitionPenalty: penalty, ...(vocab === undefined ? {} : { vocabSize: vocab }) };
  }

  /**
   * The step graph with a `uniforms` input and a `next_tokens` output drawn from its logits; with
   * a repetition penalty also a `seen` input and its update `seen_next` (the input ids marked).
   */
  private withDraw(attrs: DrawAttrs): Graph {
    return this.cached(`step:${drawKey(attrs)}`, () => {
      const { builder, map } = rebuild(this.stepGraph);
      const logitsOut = this.stepGraph.outputs.find((o) => o.name === "logits");
      const idsIn = this.stepGraph.inputs.find((i) => i.name === "input_ids");
      if (!logitsOut || !idsIn) throw new DenseSSMError('GraphDecoder: the step graph needs an "input_ids" input and a "logits" output');
      const logits = map[logitsOut.id]!;
      const [b, , v] = logits.shape as [number, number, number];
      let seen: SymTensor | undefined;
      if (attrs.repetitionPenalty !== 1) {
        seen = builder.run(() => maximum(builder.input("seen", [b, v]), equal(map[idsIn.id]!, arange(v, "int32", builder))));
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

type DrawAttrs = SampleAttrs & { readonly repetitionPenalty: number; readonly vocabSize?: number };

const drawKey = (a: DrawAttrs) => `${a.temperature}/${a.topK}/${a.topP}/${a.repetitionPenalty}/${a.vocabSize ?? ""}`;

/**
 * `sample` over the last position of logits [B, L, V], limited to the first `vocabSize` entries,
 * after the repetition penalty over the tokens marked in `seen` [B, V].
 */
function drawFrom(logits: SymTensor, uniforms: SymTensor, { vocabSize, repetitionPenalty, ...attrs }: DrawAttrs, seen?: SymTensor): SymTensor {
  const [b, l, v] = logits.shape as [number, number, number];
  let last = logits.slice(1, l - 1, l).reshape([b, v]);
  if (seen && repetitionPenalty !== 1) last = where(seen, where(less(0, last), last.div(repetitionPenalty), last.mul(repetitionPenalty)), last);
  if (vocabSize !== undefined && vocabSize < v) last = last.slice(1, 0, vocabSize);
  return sample(last, uniforms, attrs);
}
