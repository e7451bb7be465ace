import type { DeviceTensor } from "../backend/backend.js";
import { DenseSSMError } from "../errors.js";
import type { Graph } from "../graph/graph.js";
import { trace, type SymTensor } from "../graph/symbolic.js";
import { rebuild } from "../graph/transform.js";
import { checkSampleAttrs, sample, type SampleAttrs } from "../ops/sample.js";
import type { Feed, Session } from "../runtime/session.js";
import { Tensor } from "../tensor/tensor.js";
import type { Decoder, TokenDraw } from "./causal-lm.js";

export interface GraphDecoderOptions {
  readonly session: Session;
  /**
   * One decoding step: int32 `input_ids` [B, 1] and the state inputs give `logits` [B, 1, V] and
   * the next state under the same names as the state inputs.
   */
  readonly stepGraph: Graph;
  readonly stateNames: readonly string[];
  /** The step graph's feeds that depend on the position (e.g. RetNet's rotation tables). */
  readonly positionFeeds?: (position: number) => Record<string, Tensor>;
  /** What the prefill left: logits [B, L, V] whose last position predicts the next token, and the state. */
  readonly logits: Feed;
  readonly state: Readonly<Record<string, Feed>>;
  /** How many tokens the prefill fed. */
  readonly position: number;
}

/**
 * The decoder every model family shares: the state and the logits stay on the backend between
 * steps, and a draw is one more node in the step graph (`ops.sample`), so decoding a token is one
 * graph run whose only read-back is `batch` token ids.
 */
export class GraphDecoder implements Decoder {
  readonly batch: number;
  private readonly session: Session;
  private readonly stepGraph: Graph;
  private readonly stateNames: readonly string[];
  private readonly positionFeeds: (position: number) => Record<string, Tensor>;
  private state: Record<string, Feed>;
  private current: Feed;
  private position: number;
  private readonly drawGraphs = new Map<string, Graph>();

  constructor(options: GraphDecoderOptions) {
    this.session = options.session;
    this.stepGraph = options.stepGraph;
    this.stateNames = options.stateNames;
    this.positionFeeds = options.positionFeeds ?? (() => ({}));
    this.state = { ...options.state };
    this.current = options.logits;
    this.position = options.position;
    this.batch = options.logits.shape[0]!;
  }

  async logits(): Promise<Tensor> {
    const all = this.current instanceof Tensor ? this.current : await this.session.backend.download(this.current);
    return lastPosition(all);
  }

  async sample(draw: TokenDraw): Promise<Int32Array> {
    const attrs = this.checkDraw(draw);
    const [b, l, v] = this.current.shape as [number, number, number];
    const key = `${l}x${v}:${drawKey(attrs)}`;
    let graph = this.drawGraphs.get(key);
    if (!graph) {
      graph = trace((x) => ({ next_tokens: drawFrom(x.logits!, x.uniforms!, attrs) }), { inputs: { logits: { shape: [b, l, v] }, uniforms: { shape: [b] } } });
      this.drawGraphs.set(key, graph);
    }
    const out = await this.session.runOnDevice(graph, { logits: this.current, uniforms: new Tensor(draw.uniforms, [b], "float32") });
    return this.readIds(out.get("next_tokens")!);
  }

  step(tokens: readonly number[]): Promise<void>;
  step(tokens: readonly number[], draw: TokenDraw): Promise<Int32Array>;
  async step(tokens: readonly number[], draw?: TokenDraw): Promise<Int32Array | void> {
    if (tokens.length !== this.batch) throw new DenseSSMError(`step: expected ${this.batch} tokens (one per row), got ${tokens.length}`);
    const attrs = draw && this.checkDraw(draw);
    const graph = attrs ? this.withDraw(attrs) : this.stepGraph;
    const feeds: Record<string, Feed> = { input_ids: Tensor.int32(tokens, [this.batch, 1]), ...this.positionFeeds(this.position), ...this.state };
    if (draw) feeds.uniforms = new Tensor(draw.uniforms, [this.batch], "float32");
    const out = await this.session.runOnDevice(graph, feeds);
    this.releaseHeld();
    this.state = Object.fromEntries(this.stateNames.map((name) => [name, out.get(name)!]));
    this.current = out.get("logits")!;
    this.position++;
    if (attrs) return this.readIds(out.get("next_tokens")!);
  }

  /** Releases the state and logits held on the backend; the decoder is unusable afterwards. */
  dispose(): void {
    this.releaseHeld();
    this.state = {};
  }

  private releaseHeld(): void {
    for (const t of [this.current, ...Object.values(this.state)]) if (!(t instanceof Tensor)) this.session.backend.release(t);
  }

  private checkDraw(draw: TokenDraw): DrawAttrs {
    if (draw.uniforms.length !== this.batch) throw new DenseSSMError(`draw: expected ${this.batch} uniforms (one per row), got ${draw.uniforms.length}`);
    const attrs: SampleAttrs = { temperature: draw.temperature ?? 0, topK: draw.topK ?? 0, topP: draw.topP ?? 1 };
    checkSampleAttrs(attrs);
    const vocab = draw.vocabSize;
    if (vocab !== undefined && !(Number.isInteger(vocab) && vocab >= 1)) throw new DenseSSMError(`draw: vocabSize must be a positive integer, got ${vocab}`);
    return vocab === undefined ? attrs : { ...attrs, vocabSize: vocab };
  }

  /** The step graph with a `uniforms` input and a `next_tokens` output drawn from its logits. */
  private withDraw(attrs: DrawAttrs): Graph {
    const key = drawKey(attrs);
    let graph = this.drawGraphs.get(`step:${key}`);
    if (!graph) {
      const { builder, map } = rebuild(this.stepGraph);
      const logits = this.stepGraph.outputs.find((o) => o.name === "logits");
      if (!logits) throw new DenseSSMError('GraphDecoder: the step graph has no "logits" output');
      builder.output("next_tokens", drawFrom(map[logits.id]!, builder.input("uniforms", [this.batch]), attrs));
      graph = builder.build();
      this.drawGraphs.set(`step:${key}`, graph);
    }
    return graph;
  }

  private async readIds(t: DeviceTensor): Promise<Int32Array> {
    try {
      return (await this.session.backend.download(t)).data as Int32Array;
    } finally {
      this.session.backend.release(t);
    }
  }
}

type DrawAttrs = SampleAttrs & { readonly vocabSize?: number };

const drawKey = (a: DrawAttrs) => `${a.temperature}/${a.topK}/${a.topP}/${a.vocabSize ?? ""}`;

/** `sample` over the last position of logits [B, L, V], limited to the first `vocabSize` entries. */
function drawFrom(logits: SymTensor, uniforms: SymTensor, { vocabSize, ...attrs }: DrawAttrs): SymTensor {
  const [b, l, v] = logits.shape as [number, number, number];
  let last = logits.slice(1, l - 1, l).reshape([b, v]);
  if (vocabSize !== undefined && vocabSize < v) last = last.slice(1, 0, vocabSize);
  return sample(last, uniforms, attrs);
}

/** Logits [B, V] of the last position of [B, L, V]. */
function lastPosition(logits: Tensor): Tensor {
  const [b, l, v] = logits.shape as [number, number, number];
  if (l === 1) return logits.reshape([b, v]);
  const src = logits.toFloat32();
  const out = new Float32Array(b * v);
  for (let i = 0; i < b; i++) out.set(src.subarray((i * l + l - 1) * v, (i * l + l) * v), i * v);
  return new Tensor(out, [b, v], "float32");
}
