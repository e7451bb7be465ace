import { FormatError, type ModelConfig } from "@densessm/core";

/** Sizes beyond any real model, refused before anything is built. */
const MAX: Readonly<Record<string, number>> = { decoder_embed_dim: 65_536, decoder_value_embed_dim: 262_144, decoder_retention_heads: 1024, decoder_ffn_embed_dim: 262_144, decoder_layers: 1024, vocab_size: 16_777_216, dense_block_layers: 1024 };

function int(j: Record<string, unknown>, key: string, fallback?: number, min = 1): number {
  const v = j[key] ?? fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min) throw new FormatError(`config: "${key}" must be an integer ≥ ${min}, got ${JSON.stringify(j[key])}`);
  if (MAX[key] !== undefined && v > MAX[key]) throw new FormatError(`config: "${key}" ${v} is larger than any model this library builds (at most ${MAX[key]})`);
  return v;
}

/**
 * Classic RetNet (torchscale's RetNetConfig keys) and its dense variant (`dense_block_layers` > 0):
 * decoder_embed_dim, decoder_value_embed_dim, decoder_retention_heads, decoder_ffn_embed_dim,
 * decoder_layers, vocab_size, activation_fn ("swish" | "gelu", for the GLU FFN), layernorm_eps,
 * no_scale_embedding, share_decoder_input_output_embed.
 */
export class RetNetConfig implements ModelConfig {
  readonly family = "retnet";
  readonly embedDim: number;
  readonly valueDim: number;
  readonly numHeads: number;
  readonly ffnDim: number;
  readonly numLayers: number;
  readonly vocabSize: number;
  readonly activation: "swish" | "gelu";
  readonly layernormEps: number;
  readonly scaleEmbedding: boolean;
  readonly tieEmbeddings: boolean;
  /** Dense depth m; 0 is the classic RetNet. */
  readonly denseBlockLayers: number;
  /** Bottleneck reduction ratio of the dense variant's k/v select MLPs (official: 32). */
  readonly selectRatio: number;
  readonly raw: Readonly<Record<string, unknown>>;

  constructor(json: Record<string, unknown>) {
    this.raw = { ...json };
    this.embedDim = int(json, "decoder_embed_dim");
    this.valueDim = int(json, "decoder_value_embed_dim", this.embedDim * 2);
    this.numHeads = int(json, "decoder_retention_heads");
    this.ffnDim = int(json, "decoder_ffn_embed_dim", this.embedDim * 2);
    this.numLayers = int(json, "decoder_layers");
    this.vocabSize = int(json, "vocab_size");
    this.denseBlockLayers = int(json, "dense_block_layers", 0, 0);
    this.selectRatio = int(json, "dense_select_ratio", 32);
    const act = json.activation_fn ?? "swish";
    if (act !== "swish" && act !== "gelu") throw new FormatError(`config: "activation_fn" must be "swish" or "gelu", got ${JSON.stringify(act)}`);
    this.activation = act;
    const eps = json.layernorm_eps ?? 1e-6;
    if (typeof eps !== "number" || !(eps > 0)) throw new FormatError(`config: "layernorm_eps" must be a positive number, got ${JSON.stringify(eps)}`);
    this.layernormEps = eps;
    for (const key of ["no_scale_embedding", "share_decoder_input_output_embed"]) {
      if (json[key] !== undefined && typeof json[key] !== "boolean") throw new FormatError(`config: "${key}" must be a boolean`);
    }
    this.scaleEmbedding = json.no_scale_embedding === false;
    this.tieEmbeddings = json.share_decoder_input_output_embed === true;
    if (json.decoder_normalize_before === false) throw new FormatError("config: decoder_normalize_before=false (post-norm) is not supported");
    if (json.deepnorm === true) throw new FormatError("config: deepnorm=true is not supported");
    if (this.embedDim % this.numHeads !== 0 || this.valueDim % this.numHeads !== 0) throw new FormatError(`config: decoder_embed_dim and decoder_value_embed_dim must be divisible by decoder_retention_heads (${this.numHeads})`);
    if (this.keyDim % 2 !== 0) throw new FormatError(`config: the per-head key size ${this.keyDim} must be even`);
    if (this.denseBlockLayers > 0 && Math.floor(this.embedDim / this.selectRatio) < 1) throw new FormatError(`config: decoder_embed_dim ${this.embedDim} is too small for dense_select_ratio ${this.selectRatio}`);
  }

  static fromJSON(json: unknown): RetNetConfig {
    if (typeof json !== "object" || json === null || Array.isArray(json)) throw new FormatError("config: expected a JSON object");
    return new RetNetConfig(json as Record<string, unknown>);
  }

  get keyDim(): number {
    return this.embedDim / this.numHeads;
  }
  get headDim(): number {
    return this.valueDim / this.numHeads;
  }

  toJSON(): Record<string, unknown> {
    return { ...this.raw };
  }
}
