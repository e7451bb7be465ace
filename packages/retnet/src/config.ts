import { FormatError, type ModelConfig } from "@densessm/core";

/**
 * The DenseGAU-RetNet configuration, read from the official `config.json` in either variant:
 * the GitHub one (model_type "llama", LlamaForCausalLM; the k/v select MLPs use ratios 32/2 and
 * 32/0.5) and the released one (model_type "DenseGauRetNet", whose select MLP bottlenecks are
 * `intermediate_k_select_scale` / `intermediate_v_select_scale`).
 */
export interface DenseGauRetNetConfigJSON {
  model_type?: string;
  architectures?: string[];
  hidden_size: number;
  query_key_dim: number;
  num_attention_heads: number;
  num_hidden_layers: number;
  vocab_size: number;
  v_factor?: number;
  dense_block_layers?: number;
  rms_norm_eps?: number;
  layernorm_eps?: number;
  tie_word_embeddings?: boolean;
  deepnorm?: boolean;
  retnorm?: boolean;
  max_position_embeddings?: number;
  intermediate_k_select_scale?: number;
  intermediate_v_select_scale?: number;
  [key: string]: unknown;
}

/** The largest sizes we build: far past any released model, and small enough to fail fast. */
export const SIZE_LIMITS: Readonly<Record<string, number>> = { hidden_size: 65_536, query_key_dim: 65_536, num_attention_heads: 1024, num_hidden_layers: 1024, vocab_size: 16_777_216, v_factor: 64, max_position_embeddings: 16_777_216, dense_block_layers: 1024 };

function num(json: Record<string, unknown>, key: string, fallback?: number, integer = true): number {
  const v = json[key] ?? fallback;
  if (v === undefined) throw new FormatError(`config: "${key}" is missing (DenseGAU-RetNet needs it)`);
  if (typeof v !== "number" || !Number.isFinite(v) || (integer && !Number.isInteger(v)) || v <= 0) {
    throw new FormatError(`config: "${key}" must be a positive ${integer ? "integer" : "number"}, got ${JSON.stringify(json[key])}`);
  }
  return capped(key, v);
}

function capped(key: string, v: number): number {
  const max = SIZE_LIMITS[key];
  if (max !== undefined && v > max) throw new FormatError(`config: "${key}" ${v} is larger than any model this library builds (at most ${max})`);
  return v;
}

function nonNegInt(json: Record<string, unknown>, key: string, fallback: number): number {
  const v = json[key] ?? fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) throw new FormatError(`config: "${key}" must be a non-negative integer, got ${JSON.stringify(json[key])}`);
  return capped(key, v);
}

function bool(json: Record<string, unknown>, key: string, fallback: boolean): boolean {
  const v = json[key] ?? fallback;
  if (typeof v !== "boolean") throw new FormatError(`config: "${key}" must be a boolean, got ${JSON.stringify(json[key])}`);
  return v;
}

export class DenseGauRetNetConfig implements ModelConfig {
  readonly family = "dense-gau-retnet";
  readonly hiddenSize: number;
  readonly queryKeyDim: number;
  readonly numHeads: number;
  readonly numLayers: number;
  readonly vocabSize: number;
  readonly vFactor: number;
  /** How many previous layers' k/v feed each layer (the dense depth m). */
  readonly denseBlockLayers: number;
  readonly rmsNormEps: number;
  readonly tieWordEmbeddings: boolean;
  /** The longest context the official code builds its position tables for. */
  readonly maxPositionEmbeddings: number;
  /** Bottleneck width of the k and v select MLPs. */
  readonly kSelectHidden: number;
  readonly vSelectHidden: number;
  /** The config as read, for saving back unchanged. */
  readonly raw: Readonly<Record<string, unknown>>;

  constructor(json: DenseGauRetNetConfigJSON) {
    const j = json as Record<string, unknown>;
    this.raw = { ...j };
    this.hiddenSize = num(j, "hidden_size");
    this.queryKeyDim = num(j, "query_key_dim");
    this.numHeads = num(j, "num_attention_heads");
    this.numLayers = num(j, "num_hidden_layers");
    this.vocabSize = num(j, "vocab_size");
    this.vFactor = num(j, "v_factor", 2);
    this.denseBlockLayers = nonNegInt(j, "dense_block_layers", 1);
    this.rmsNormEps = num(j, "rms_norm_eps", 1e-6, false);
    this.tieWordEmbeddings = bool(j, "tie_word_embeddings", false);
    this.maxPositionEmbeddings = num(j, "max_position_embeddings", 2048);
    if (bool(j, "deepnorm", false)) throw new FormatError("config: deepnorm=true is not supported (the official forward pass ignores it except at initialisation; set it to false)");
    if (bool(j, "retnorm", false)) throw new FormatError("config: retnorm=true is not supported by the official DenseGAU-RetNet code");
    if (this.queryKeyDim % this.numHeads !== 0) throw new FormatError(`config: query_key_dim ${this.queryKeyDim} must be divisible by num_attention_heads ${this.numHeads}`);
    if (this.keyDim % 2 !== 0) throw new FormatError(`config: the per-head key size ${this.keyDim} must be even (theta shift rotates pairs)`);
    if ((this.hiddenSize * this.vFactor) % this.numHeads !== 0) throw new FormatError(`config: hidden_size * v_factor (${this.hiddenSize * this.vFactor}) must be divisible by num_attention_heads ${this.numHeads}`);
    const released = j.intermediate_k_select_scale !== undefined || j.intermediate_v_select_scale !== undefined;
    if (released) {
      // The released checkpoints give the select MLPs' reduction ratio explicitly (the GitHub code
      // hard-codes 32): the bottleneck is hidden_size // scale.
      this.kSelectHidden = Math.floor(this.hiddenSize / num(j, "intermediate_k_select_scale", 32, false));
      this.vSelectHidden = Math.floor(this.hiddenSize / num(j, "intermediate_v_select_scale", 32, false));
      if (this.kSelectHidden < 1 || this.vSelectHidden < 1) throw new FormatError("config: intermediate_k/v_select_scale leave a select MLP with no hidden units");
    } else {
      // The GitHub code: HiddenProjection(hidden, 32, ·), i.e. a bottleneck of hidden // 32.
      this.kSelectHidden = Math.floor(this.hiddenSize / 32);
      this.vSelectHidden = Math.floor(this.hiddenSize / 32);
      if (this.kSelectHidden < 1) throw new FormatError(`config: hidden_size ${this.hiddenSize} is too small for the select MLPs (hidden_size // 32 = 0)`);
    }
  }

  static fromJSON(json: unknown): DenseGauRetNetConfig {
    if (typeof json !== "object" || json === null || Array.isArray(json)) throw new FormatError("config: expected a JSON object");
    return new DenseGauRetNetConfig(json as DenseGauRetNetConfigJSON);
  }

  /** Per-head query/key width. */
  get keyDim(): number {
    return this.queryKeyDim / this.numHeads;
  }
  /** v and gate width: hidden_size * v_factor. */
  get expansionDim(): number {
    return this.hiddenSize * this.vFactor;
  }
  /** Per-head value width. */
  get headDim(): number {
    return this.expansionDim / this.numHeads;
  }

  toJSON(): Record<string, unknown> {
    return { ...this.raw };
  }
}
