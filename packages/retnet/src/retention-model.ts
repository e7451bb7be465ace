import { FormatError, isFloat, type ChunkOutput, type FamilyModel, type GraphBuilder, type LoadStateDictOptions, type Module, type ModelConfig, type PositionFeeds, type SequenceForm, type StateSpec, type SymTensor, type Tensor } from "@densessm/core";
import type { RetentionContext } from "./context.js";
import { recurrentFactors, relPosBuffers, thetaTables } from "./positions.js";

/** What a retention language model's module computes (DenseGAU-RetNet or classic RetNet). */
export interface RetentionLanguageModel extends Module {
  forward(ids: SymTensor, ctx: RetentionContext, states?: readonly SymTensor[]): { logits: SymTensor; states: SymTensor[] };
}

/** Head layout and decays of a retention model. */
export interface RetentionShape {
  readonly numLayers: number;
  readonly numHeads: number;
  readonly keyDim: number;
  readonly headDim: number;
  readonly gammas: readonly number[];
}

export interface RetentionModelOptions {
  /**
   * Whether the parallel form applies the official detached row divisor (see RetentionContext).
   * On by default, to reproduce the official parallel numerics; off, parallel equals the recurrent
   * and chunkwise forms up to float rounding even where the group norm's eps makes it visible.
   */
  readonly rowNormalize?: boolean;
  readonly contextLength?: number;
  /**
   * Where the official code keeps its RetNetRelPos module ("model.retnet_rel_pos" in
   * DenseGAU-RetNet, "retnet_rel_pos" in torchscale): its persistent `angle` and `decay` buffers
   * are in every checkpoint that code writes, so they are checked on load and written on save.
   */
  readonly relPos?: string;
}

/** Layer i's recurrent state S_i [B, H, dk, dv]. */
export const retentionState = (layer: number): string => `retention.${layer}`;

/**
 * A retention LM as a model family's model: the parallel and chunkwise forms over whole sequences,
 * and the recurrent form over chunks whose positions arrive as feeds (sin/cos of the theta shift,
 * carry/inject of the running scale), so one compiled step graph serves every position.
 */
export class RetentionModel<C extends ModelConfig = ModelConfig> implements FamilyModel<C> {
  readonly sequenceForms: readonly SequenceForm[] = ["parallel", "chunkwise"];
  readonly defaultChunkSize = 64;
  readonly states: readonly StateSpec[];
  readonly positions: PositionFeeds;
  readonly rowNormalize: boolean;
  readonly contextLength: number | undefined;
  readonly relPos: string | undefined;

  constructor(
    readonly kind: string,
    readonly config: C,
    readonly module: RetentionLanguageModel,
    readonly shape: RetentionShape,
    options: RetentionModelOptions = {},
  ) {
    this.module.eval();
    this.rowNormalize = options.rowNormalize ?? true;
    this.contextLength = options.contextLength;
    this.relPos = options.relPos;
    const { numLayers, numHeads: h, keyDim: dk, headDim: dv, gammas } = shape;
    this.states = Array.from({ length: numLayers }, (_, i) => ({ name: retentionState(i), dtype: "float32" as const, shape: (batch: number) => [batch, h, dk, dv] }));
    this.positions = {
      rows: { sin: [dk], cos: [dk], carry: [h], inject: [h] },
      values: (start, length) => ({ ...thetaTables(dk, start, length), ...recurrentFactors(gammas, start, length) }),
    };
  }

  /** The same model (shared module and weights) with other options, e.g. without the row divisor. */
  withOptions(options: RetentionModelOptions): RetentionModel<C> {
    return new RetentionModel(this.kind, this.config, this.module, this.shape, { rowNormalize: this.rowNormalize, contextLength: this.contextLength, relPos: this.relPos, ...options });
  }

  sequence(ids: SymTensor, form: SequenceForm, options: { readonly chunkSize: number }): SymTensor {
    return this.module.forward(ids, this.wholeContext(ids.builder, ids.dim(1), form, options.chunkSize)).logits;
  }

  /** The embedding output and every layer's output (the parallel form; the states are the same in every form). */
  hiddenStates(ids: SymTensor): SymTensor[] {
    const residual: SymTensor[] = [];
    this.module.forward(ids, { ...this.wholeContext(ids.builder, ids.dim(1), "parallel", this.defaultChunkSize), residual });
    return residual;
  }

  chunk(ids: SymTensor, state: Readonly<Record<string, SymTensor>>, positions: Readonly<Record<string, SymTensor>>): ChunkOutput {
    const states = this.states.map((s) => state[s.name]!);
    const r = this.module.forward(ids, this.recurrentContext(positions), states);
    return { logits: r.logits, state: Object.fromEntries(r.states.map((s, i) => [retentionState(i), s])) };
  }

  /** The retention context of a whole-sequence graph of `length` tokens from position 0. */
  wholeContext(builder: GraphBuilder, length: number, form: SequenceForm, chunkSize: number): RetentionContext {
    const { sin, cos } = thetaTables(this.shape.keyDim, 0, length);
    const base = { sin: builder.constant(sin), cos: builder.constant(cos), gammas: this.shape.gammas };
    return form === "parallel" ? { ...base, mode: form, rowNormalize: this.rowNormalize } : { ...base, mode: form, chunkSize, start: 0 };
  }

  /**
   * The retention context of a chunk graph, from its position feeds ([B, L, ...row]: every row of
   * the batch has positions of its own). sin/cos gain a head axis to meet q and k [B, H, L, dk].
   */
  recurrentContext(positions: Readonly<Record<string, SymTensor>>): RetentionContext {
    return { mode: "recurrent", sin: positions.sin!.unsqueeze(1), cos: positions.cos!.unsqueeze(1), carry: positions.carry!, inject: positions.inject!, gammas: this.shape.gammas };
  }

  /** Loads the weights; the official rel-pos buffers, when present, must equal what the config implies. */
  loadStateDict(tensors: ReadonlyMap<string, Tensor>, options: LoadStateDictOptions = {}): void {
    const buffers = this.buffers();
    if (buffers.size === 0 || ![...buffers.keys()].some((n) => tensors.has(n))) return this.module.loadStateDict(tensors, options);
    for (const [name, expected] of buffers) {
      const stored = tensors.get(name);
      if (stored) checkBuffer(name, stored, expected);
    }
    this.module.loadStateDict(new Map([...tensors].filter(([name]) => !buffers.has(name))), options);
  }

  /** The parameters, and the rel-pos buffers as the official code saves them (so it loads with strict=True). */
  stateDict(): Map<string, Tensor> {
    return new Map([...this.module.stateDict(), ...this.buffers()]);
  }

  private buffers(): Map<string, Tensor> {
    if (!this.relPos) return new Map();
    const { angle, decay } = relPosBuffers(this.shape.keyDim, this.shape.gammas);
    return new Map([
      [`${this.relPos}.angle`, angle],
      [`${this.relPos}.decay`, decay],
    ]);
  }
}

/**
 * A stored buffer must hold the values our config implies, to the precision of its dtype; anything
 * else means the checkpoint was written for another head layout (or edited), and its positions
 * would not be ours.
 */
function checkBuffer(name: string, stored: Tensor, expected: Tensor): void {
  if (stored.shape.join() !== expected.shape.join()) throw new FormatError(`tensor "${name}" has shape [${stored.shape.join(", ")}], the config implies [${expected.shape.join(", ")}] (a checkpoint for another query_key_dim or head count?)`);
  if (!isFloat(stored.dtype)) throw new FormatError(`tensor "${name}" holds integers; expected floating point values`);
  const tolerance = { float32: 1e-6, float16: 2e-3, bfloat16: 1.6e-2 }[stored.dtype as "float32" | "float16" | "bfloat16"];
  const ours = expected.toFloat32();
  const theirs = stored.toFloat32();
  let worst = 0;
  let at = 0;
  for (let i = 0; i < ours.length; i++) {
    const diff = Math.abs(theirs[i]! - ours[i]!);
    if (!(diff <= tolerance * Math.abs(ours[i]!)) && !(diff <= worst)) [worst, at] = [Number.isNaN(diff) ? Infinity : diff, i];
  }
  if (worst > 0) throw new FormatError(`tensor "${name}" differs from the values the config implies: largest difference ${worst.toPrecision(3)} at index ${at} (${theirs[at]} stored, ${ours[at]} expected)`);
}
