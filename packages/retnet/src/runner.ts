import type { Session} from "@densessm/core";
import { DenseSSMError, ops, ShapeError, Tensor, trace, type Graph, type Module, type SymTensor } from "@densessm/core";
import type { RetentionContext, RetentionMode } from "./context.js";
import { recurrentFactors, thetaTables } from "./positions.js";

/** What the runner needs from a retention language model (DenseGAU-RetNet or classic RetNet). */
export interface RetentionLanguageModel extends Module {
  forward(ids: SymTensor, ctx: RetentionContext, states?: readonly SymTensor[]): { logits: SymTensor; states: SymTensor[] };
}

export interface RetentionShape {
  numLayers: number;
  numHeads: number;
  keyDim: number;
  headDim: number;
  gammas: readonly number[];
}

export const stateName = (layer: number): string => `state_${layer}`;

/**
 * Builds, caches and runs the graphs of one retention LM: parallel and chunkwise graphs per
 * (batch, length[, chunk]); recurrent graphs per (batch, length) whose positions arrive as inputs
 * (sin, cos, carry, inject) so one compiled single-token step graph serves every position.
 */
export class RetentionRunner {
  private readonly graphs = new Map<string, Graph>();
  /**
   * Whether parallel graphs apply the official detached row divisor (see RetentionContext). On by
   * default, to reproduce the official parallel numerics; off, parallel equals recurrent/chunkwise
   * retention up to float rounding even where the group norm's eps makes the divisor visible.
   */
  rowNormalize = true;

  constructor(
    readonly model: RetentionLanguageModel,
    readonly shape: RetentionShape,
  ) {}

  private cached(key: string, build: () => Graph): Graph {
    let g = this.graphs.get(key);
    if (!g) {
      g = build();
      this.graphs.set(key, g);
    }
    return g;
  }

  /** logits [B, L, V] for input_ids [B, L], all positions at once. */
  parallelGraph(batch: number, len: number): Graph {
    return this.cached(`parallel:${batch}x${len}:${this.rowNormalize}`, () => this.traceWhole(batch, len, "parallel"));
  }

  /** Same as parallelGraph, computed chunk by chunk (chunk size `chunkSize`). */
  chunkwiseGraph(batch: number, len: number, chunkSize = 64): Graph {
    if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new DenseSSMError(`chunk size must be a positive integer, got ${chunkSize}`);
    return this.cached(`chunkwise:${batch}x${len}:${chunkSize}`, () => this.traceWhole(batch, len, "chunkwise", chunkSize));
  }

  /**
   * The recurrent form over `len` tokens (len = 1: the decoding step). Inputs: input_ids [B, len],
   * sin/cos [len, dk], carry/inject [len, H] (from `recurrentFeeds`), state_i [B, H, dk, dv];
   * outputs: logits and the next state_i.
   */
  recurrentGraph(batch: number, len: number): Graph {
    const { numLayers, numHeads: h, keyDim: dk, headDim: dv, gammas } = this.shape;
    return this.cached(`recurrent:${batch}x${len}`, () => {
      const inputs: Record<string, { shape: number[]; dtype?: "int32" | "float32" }> = {
        input_ids: { shape: [batch, len], dtype: "int32" },
        sin: { shape: [len, dk] },
        cos: { shape: [len, dk] },
        carry: { shape: [len, h] },
        inject: { shape: [len, h] },
      };
      for (let i = 0; i < numLayers; i++) inputs[stateName(i)] = { shape: [batch, h, dk, dv] };
      return trace(
        (x) => {
          const ctx: RetentionContext = { mode: "recurrent", sin: x.sin!, cos: x.cos!, gammas, carry: x.carry!, inject: x.inject! };
          const states = Array.from({ length: numLayers }, (_, i) => x[stateName(i)]!);
          const r = this.model.forward(x.input_ids!, ctx, states);
          const out: Record<string, SymTensor> = { logits: r.logits };
          r.states.forEach((s, i) => (out[stateName(i)] = s));
          return out;
        },
        { inputs, parameters: this.model.namedParameters() },
      );
    });
  }

  /** The position-dependent feeds of the recurrent graph for positions start .. start+len-1. */
  recurrentFeeds(start: number, len: number): Record<string, Tensor> {
    const { sin, cos } = thetaTables(this.shape.keyDim, start, len);
    const { carry, inject } = recurrentFactors(this.shape.gammas, start, len);
    return { sin, cos, carry, inject };
  }

  /** Zero recurrent states for a batch. */
  initialStates(batch: number): Record<string, Tensor> {
    const { numLayers, numHeads: h, keyDim: dk, headDim: dv } = this.shape;
    const out: Record<string, Tensor> = {};
    for (let i = 0; i < numLayers; i++) out[stateName(i)] = Tensor.zeros([batch, h, dk, dv]);
    return out;
  }

  /**
   * Training graph: logits and the causal LM loss, mean cross-entropy of logits[:, t] against
   * labels[:, t+1] over labels ≠ -100 (the official shift). Inputs input_ids and labels [B, L] int32.
   */
  lossGraph(batch: number, len: number, mode: "parallel" | "chunkwise" = "parallel", chunkSize = 64): Graph {
    if (len < 2) throw new ShapeError(`the causal LM loss needs sequences of at least 2 tokens, got ${len}`);
    return this.cached(`loss:${mode}:${batch}x${len}:${chunkSize}:${this.rowNormalize}`, () =>
      trace(
        (x, builder) => {
          const logits = this.model.forward(x.input_ids!, this.wholeContext(builder.constant.bind(builder), len, mode, chunkSize)).logits;
          return { logits, loss: causalLmLoss(logits, x.labels!) };
        },
        { inputs: { input_ids: { shape: [batch, len], dtype: "int32" }, labels: { shape: [batch, len], dtype: "int32" } }, parameters: this.model.namedParameters() },
      ),
    );
  }

  /** The retention context of a whole-sequence (parallel or chunkwise) graph of length `len`. */
  wholeContext(constant: (t: Tensor) => SymTensor, len: number, mode: "parallel" | "chunkwise", chunkSize: number): RetentionContext {
    const { sin, cos } = thetaTables(this.shape.keyDim, 0, len);
    const base = { sin: constant(sin), cos: constant(cos), gammas: this.shape.gammas };
    return mode === "parallel" ? { ...base, mode, rowNormalize: this.rowNormalize } : { ...base, mode, chunkSize, start: 0 };
  }

  private traceWhole(batch: number, len: number, mode: "parallel" | "chunkwise", chunkSize = 64): Graph {
    return trace((x, builder) => ({ logits: this.model.forward(x.input_ids!, this.wholeContext(builder.constant.bind(builder), len, mode, chunkSize)).logits }), {
      inputs: { input_ids: { shape: [batch, len], dtype: "int32" } },
      parameters: this.model.namedParameters(),
    });
  }

  /** logits [B, L, V] for equal-length rows of ids in the given form. */
  async logits(session: Session, ids: readonly (readonly number[])[], mode: RetentionMode, options: { chunkSize?: number } = {}): Promise<Tensor> {
    const batch = ids.length;
    const len = ids[0]?.length ?? 0;
    if (batch === 0 || len === 0) throw new ShapeError("logits: ids must be a non-empty [batch][length] array");
    if (ids.some((row) => row.length !== len)) throw new ShapeError(`logits: every row of ids must have the same length (${len})`);
    const input = Tensor.int32(ids.flat(), [batch, len]);
    session.setParameters(this.model.namedParameters());
    if (mode === "parallel") return (await session.run(this.parallelGraph(batch, len), { input_ids: input })).logits!;
    if (mode === "chunkwise") return (await session.run(this.chunkwiseGraph(batch, len, options.chunkSize ?? 64), { input_ids: input })).logits!;
    if (mode !== "recurrent") throw new DenseSSMError(`unknown mode "${String(mode)}" (expected parallel, recurrent or chunkwise)`);
    const step = this.recurrentGraph(batch, 1);
    let states = this.initialStates(batch);
    const steps: Float32Array[] = [];
    let vocab = 0;
    for (let t = 0; t < len; t++) {
      const out = await session.run(step, { input_ids: Tensor.int32(ids.map((row) => row[t]!), [batch, 1]), ...this.recurrentFeeds(t, 1), ...states });
      const logits = out.logits!;
      vocab = logits.shape[2]!;
      steps.push(logits.toFloat32());
      states = Object.fromEntries(Object.keys(states).map((k) => [k, out[k]!]));
    }
    const data = new Float32Array(batch * len * vocab);
    steps.forEach((s, t) => {
      for (let b = 0; b < batch; b++) data.set(s.subarray(b * vocab, (b + 1) * vocab), (b * len + t) * vocab);
    });
    return new Tensor(data, [batch, len, vocab], "float32");
  }
}

/** Shifted causal LM cross-entropy: logits[:, :-1] predict labels[:, 1:], ignoring -100. */
export function causalLmLoss(logits: SymTensor, labels: SymTensor): SymTensor {
  const len = logits.dim(1);
  return ops.crossEntropy(logits.slice(1, 0, len - 1), labels.slice(1, 1, len), { ignoreIndex: -100 });
}
