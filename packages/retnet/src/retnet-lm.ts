import { Embedding, Linear, Module, ops, RMSNorm, type Rng, type SymTensor } from "@densessm/core";
import { HiddenFusion, HiddenProjection } from "@densessm/fusion";
import type { RetentionContext } from "./context.js";
import { fuseDenseKV, multiHeadRetention, runDenseLayers, type DenseKV } from "./multi-head.js";
import type { RetNetConfig } from "./retnet-config.js";

/**
 * torchscale's MultiScaleRetention with the swish gate:
 *     q = x Wq, k = x Wk / sqrt(dk), v = x Wv, g = x Wg
 *     o = GroupRMSNorm(Retention(θ(q), θ(k), v))   (no affine weight, eps = layernorm_eps)
 *     y = (swish(g) ⊙ o) W_out
 * The dense variant (m > 0) fuses the last m layers' pre-fusion k and v exactly like DenseGAU-RetNet:
 * k ← k_norm(k + Σ SiLU(k_select(x)) ⊙ k_i), v ← v_norm(v + Σ SiLU(v_select(x)) ⊙ v_i).
 */
export class MultiScaleRetention extends Module {
  q_proj: Linear;
  k_proj: Linear;
  v_proj: Linear;
  g_proj: Linear;
  out_proj: Linear;
  k_select: HiddenProjection | undefined;
  v_select: HiddenProjection | undefined;
  k_norm: RMSNorm | undefined;
  v_norm: RMSNorm | undefined;
  private readonly fusion = new HiddenFusion({ mode: "add", dim: 1 });

  constructor(
    readonly config: RetNetConfig,
    rng?: Rng,
  ) {
    super();
    const { embedDim: d, valueDim: e } = config;
    this.q_proj = new Linear(d, d, { bias: false, rng });
    this.k_proj = new Linear(d, d, { bias: false, rng });
    this.v_proj = new Linear(d, e, { bias: false, rng });
    this.g_proj = new Linear(d, e, { bias: false, rng });
    this.out_proj = new Linear(e, d, { bias: false, rng });
    const dense = config.denseBlockLayers > 0;
    const mid = Math.floor(d / config.selectRatio);
    this.k_select = dense ? new HiddenProjection(d, mid, d, { rng }) : undefined;
    this.v_select = dense ? new HiddenProjection(d, mid, e, { rng }) : undefined;
    this.k_norm = dense ? new RMSNorm(d, config.layernormEps) : undefined;
    this.v_norm = dense ? new RMSNorm(e, config.layernormEps) : undefined;
  }

  forward(x: SymTensor, ctx: RetentionContext, earlier: readonly DenseKV[], state?: SymTensor): { out: SymTensor; kv: DenseKV; state?: SymTensor } {
    const cfg = this.config;
    const [b, len] = x.shape as [number, number, number];
    const q = this.q_proj.forward(x);
    const kCurrent = this.k_proj.forward(x).mul(Math.pow(cfg.keyDim, -0.5));
    const vCurrent = this.v_proj.forward(x);
    const g = this.g_proj.forward(x);
    const dense = this.k_select && this.v_select && this.k_norm && this.v_norm ? { k_select: this.k_select, v_select: this.v_select, k_norm: this.k_norm, v_norm: this.v_norm } : undefined;
    const { k, v } = fuseDenseKV(x, { k: kCurrent, v: vCurrent }, earlier, dense, this.fusion);
    const { out: o, state: next } = multiHeadRetention(q, k, v, cfg, ctx, state);
    const normed = ops.rmsnorm(o, undefined, cfg.layernormEps).reshape([b, len, cfg.valueDim]);
    ctx.taps?.push(normed);
    const out = this.out_proj.forward(ops.silu(g).mul(normed));
    return { out, kv: { k: kCurrent, v: vCurrent }, ...(next ? { state: next } : {}) };
  }
}

/** torchscale's GLU feed-forward: fc2(act(fc1 x) ⊙ gate x), no biases. */
export class GLU extends Module {
  fc1: Linear;
  fc2: Linear;
  gate: Linear;

  constructor(
    dim: number,
    ffnDim: number,
    readonly activation: "swish" | "gelu",
    rng?: Rng,
  ) {
    super();
    this.fc1 = new Linear(dim, ffnDim, { bias: false, rng });
    this.fc2 = new Linear(ffnDim, dim, { bias: false, rng });
    this.gate = new Linear(dim, ffnDim, { bias: false, rng });
  }

  forward(x: SymTensor): SymTensor {
    const h = this.fc1.forward(x);
    const act = this.activation === "swish" ? ops.silu(h) : ops.gelu(h);
    return this.fc2.forward(act.mul(this.gate.forward(x)));
  }
}

/** Pre-norm block: x + retention(RMSNorm(x)), then x + GLU(RMSNorm(x)). */
export class RetNetDecoderLayer extends Module {
  retention: MultiScaleRetention;
  retention_layer_norm: RMSNorm;
  ffn: GLU;
  final_layer_norm: RMSNorm;

  constructor(config: RetNetConfig, rng?: Rng) {
    super();
    this.retention = new MultiScaleRetention(config, rng);
    this.retention_layer_norm = new RMSNorm(config.embedDim, config.layernormEps);
    this.ffn = new GLU(config.embedDim, config.ffnDim, config.activation, rng);
    this.final_layer_norm = new RMSNorm(config.embedDim, config.layernormEps);
  }

  forward(x: SymTensor, ctx: RetentionContext, earlier: readonly DenseKV[], state?: SymTensor): { out: SymTensor; kv: DenseKV; state?: SymTensor } {
    const r = this.retention.forward(this.retention_layer_norm.forward(x), ctx, earlier, state);
    const y = x.add(r.out);
    return { ...r, out: y.add(this.ffn.forward(this.final_layer_norm.forward(y))) };
  }
}

/** torchscale's RetNetDecoder with its state_dict names (embed_tokens, layers.N.*, layer_norm, output_projection). */
export class RetNetDecoder extends Module {
  embed_tokens: Embedding;
  layers: RetNetDecoderLayer[];
  layer_norm: RMSNorm;
  output_projection: Linear;

  constructor(
    readonly config: RetNetConfig,
    rng?: Rng,
  ) {
    super();
    this.embed_tokens = new Embedding(config.vocabSize, config.embedDim, { rng, std: Math.pow(config.embedDim, -0.5) });
    this.layers = Array.from({ length: config.numLayers }, () => new RetNetDecoderLayer(config, rng));
    this.layer_norm = new RMSNorm(config.embedDim, config.layernormEps);
    this.output_projection = new Linear(config.embedDim, config.vocabSize, { bias: false, rng });
    if (config.tieEmbeddings) this.output_projection.weight = this.embed_tokens.weight;
  }

  forward(ids: SymTensor, ctx: RetentionContext, states?: readonly SymTensor[]): { logits: SymTensor; states: SymTensor[] } {
    let x = this.embed_tokens.forward(ids);
    if (this.config.scaleEmbedding) x = x.mul(Math.sqrt(this.config.embedDim));
    const { out, states: next } = runDenseLayers(this.layers, x, ctx, this.config.denseBlockLayers, states);
    return { logits: this.output_projection.forward(this.layer_norm.forward(out)), states: next };
  }
}
