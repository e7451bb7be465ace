import { Embedding, Linear, Module, ops, RMSNorm, type Rng, type SymTensor } from "@densessm/core";
import type { HiddenFusion, HiddenProjection } from "@densessm/fusion";
import type { DenseGauRetNetConfig } from "./config.js";
import type { RetentionContext } from "./context.js";
import { denseKVModules, fuseDenseKV, multiHeadRetention, runDenseLayers, type DenseKV, type DenseKVModules } from "./multi-head.js";

/**
 * DenseGAU-RetNet's token mixer (the official MultiScaleGauRetention), per layer:
 *
 *     q = SiLU(x Wq),  k = SiLU(x Wk) / sqrt(dk),  [v, g] = SiLU(x W_to_hidden)
 *     if the layer has earlier layers (dense):
 *         k ← k_norm(k + Σ_i SiLU(k_select(x)) ⊙ k_i)        (k_i: earlier layers' pre-fusion k)
 *         v ← v_norm(v + Σ_i SiLU(v_select(x)) ⊙ v_i)
 *     o = GroupRMSNorm(Retention(θ(q), θ(k), v)) ⊙ g;  y = o W_to_out
 *
 * The selective transition is the fusion package's φ with identity projection and the gate MLPs
 * named `k_select`/`v_select` as in the checkpoints; fusion is "add". The `dense_*` config keys
 * change that design for ablations (see DenseKVOptions); every layer carries the official modules,
 * layer 0 included (the checkpoints have them there too).
 */
export class MultiScaleGauRetention extends Module implements DenseKVModules {
  q_proj: Linear;
  k_proj: Linear;
  group_norm: RMSNorm;
  to_hidden: Linear[];
  to_out: Linear[];
  k_select: HiddenProjection | undefined;
  v_select: HiddenProjection | undefined;
  k_norm: RMSNorm | undefined;
  v_norm: RMSNorm | undefined;
  k_dense_proj: Linear | HiddenProjection | undefined;
  v_dense_proj: Linear | HiddenProjection | undefined;
  k_fusion: HiddenFusion | undefined;
  v_fusion: HiddenFusion | undefined;

  constructor(
    readonly config: DenseGauRetNetConfig,
    readonly layerIndex: number,
    rng?: Rng,
  ) {
    super();
    const { hiddenSize: d, queryKeyDim: qk, expansionDim: e, rmsNormEps: eps } = config;
    this.q_proj = new Linear(d, qk, { bias: false, rng });
    this.k_proj = new Linear(d, qk, { bias: false, rng });
    this.group_norm = new RMSNorm(config.headDim, eps);
    this.to_hidden = [new Linear(d, 2 * e, { bias: false, rng })];
    this.to_out = [new Linear(e, d, { bias: false, rng })];
    const shape = { input: d, key: qk, value: e, kSelectHidden: config.kSelectHidden, vSelectHidden: config.vSelectHidden, eps, depth: config.denseBlockLayers };
    const dense = denseKVModules(config.dense, shape, { everyLayer: true, reads: layerIndex > 0 && config.denseBlockLayers > 0 }, rng);
    this.k_select = dense.k_select;
    this.v_select = dense.v_select;
    this.k_norm = dense.k_norm;
    this.v_norm = dense.v_norm;
    this.k_dense_proj = dense.k_dense_proj;
    this.v_dense_proj = dense.v_dense_proj;
    this.k_fusion = dense.k_fusion;
    this.v_fusion = dense.v_fusion;
  }

  /**
   * x: [B, L, D] (the normed layer input). `earlier`: the last m layers' pre-fusion k/v (empty for
   * the first layer, which skips k_norm/v_norm like the official code). `state`: recurrent
   * state [B, H, dk, dv] entering this call.
   */
  forward(x: SymTensor, ctx: RetentionContext, earlier: readonly DenseKV[], state?: SymTensor): { out: SymTensor; kv: DenseKV; state?: SymTensor } {
    const cfg = this.config;
    const [b, len] = x.shape as [number, number, number];
    const q = ops.silu(this.q_proj.forward(x));
    const kCurrent = ops.silu(this.k_proj.forward(x)).mul(Math.pow(cfg.keyDim, -0.5));
    const hidden = ops.silu(this.to_hidden[0]!.forward(x));
    const e = cfg.expansionDim;
    const vCurrent = hidden.slice(-1, 0, e);
    const gate = hidden.slice(-1, e, 2 * e);

    const { k, v } = fuseDenseKV(x, { k: kCurrent, v: vCurrent }, earlier, this, this.layerIndex === 0);
    const { out: o, state: next } = multiHeadRetention(q, k, v, cfg, ctx, state);
    const normed = this.group_norm.forward(o).reshape([b, len, e]);
    ctx.taps?.push(normed);
    const out = this.to_out[0]!.forward(normed.mul(gate));
    return { out, kv: { k: kCurrent, v: vCurrent }, ...(next ? { state: next } : {}) };
  }
}

/** Pre-norm residual block without FFN: x + mixer(RMSNorm(x)). */
export class DenseGauRetNetLayer extends Module {
  self_attn: MultiScaleGauRetention;
  input_layernorm: RMSNorm;

  constructor(config: DenseGauRetNetConfig, layerIndex: number, rng?: Rng) {
    super();
    this.self_attn = new MultiScaleGauRetention(config, layerIndex, rng);
    this.input_layernorm = new RMSNorm(config.hiddenSize, config.rmsNormEps);
  }

  forward(x: SymTensor, ctx: RetentionContext, earlier: readonly DenseKV[], state?: SymTensor): { out: SymTensor; kv: DenseKV; state?: SymTensor } {
    const r = this.self_attn.forward(this.input_layernorm.forward(x), ctx, earlier, state);
    return { ...r, out: x.add(r.out) };
  }
}

/** Embedding, the layer stack with its dense k/v ring, and the final RMSNorm. */
export class DenseGauRetNetModel extends Module {
  embed_tokens: Embedding;
  layers: DenseGauRetNetLayer[];
  norm: RMSNorm;

  constructor(
    readonly config: DenseGauRetNetConfig,
    rng?: Rng,
  ) {
    super();
    this.embed_tokens = new Embedding(config.vocabSize, config.hiddenSize, { rng, std: 0.02 });
    this.layers = Array.from({ length: config.numLayers }, (_, i) => new DenseGauRetNetLayer(config, i, rng));
    this.norm = new RMSNorm(config.hiddenSize, config.rmsNormEps);
  }

  /** ids [B, L] int32 → final hidden states [B, L, D] (and the per-layer recurrent states). */
  forward(ids: SymTensor, ctx: RetentionContext, states?: readonly SymTensor[]): { hidden: SymTensor; states: SymTensor[] } {
    const { out, states: next } = runDenseLayers(this.layers, this.embed_tokens.forward(ids), ctx, this.config.denseBlockLayers, states);
    return { hidden: this.norm.forward(out), states: next };
  }
}

/** The causal LM: model + lm_head (a separate matrix unless tie_word_embeddings). */
export class DenseGauRetNetForCausalLM extends Module {
  model: DenseGauRetNetModel;
  lm_head: Linear;

  constructor(
    readonly config: DenseGauRetNetConfig,
    rng?: Rng,
  ) {
    super();
    this.model = new DenseGauRetNetModel(config, rng);
    this.lm_head = new Linear(config.hiddenSize, config.vocabSize, { bias: false, rng });
    if (config.tieWordEmbeddings) this.lm_head.weight = this.model.embed_tokens.weight;
  }

  forward(ids: SymTensor, ctx: RetentionContext, states?: readonly SymTensor[]): { logits: SymTensor; states: SymTensor[] } {
    const { hidden, states: next } = this.model.forward(ids, ctx, states);
    return { logits: this.lm_head.forward(hidden), states: next };
  }
}
