import { FormatError } from "@densessm/core";

// The model configuration, read from either config.json form:
//  - state-spaces/mamba (`MambaConfig` in mamba_ssm/models/config_mamba.py): d_model, n_layer,
//    vocab_size, ssm_cfg {d_state, d_conv, expand, dt_rank, ...}, rms_norm, residual_in_fp32,
//    fused_add_norm, pad_vocab_size_multiple, tie_embeddings;
//  - Hugging Face transformers (`MambaConfig`, model_type "mamba"): hidden_size,
//    num_hidden_layers, state_size, conv_kernel, expand, time_step_rank, use_bias, use_conv_bias,
//    layer_norm_epsilon, tie_word_embeddings, ...
// and written back in the state-spaces form, with a `dense` section when the model is a DenseMamba.

/** How a DenseMamba layer fuses its predecessors (see README.md, "DenseMamba"). */
export type DenseFuseTarget = "state" | "input";
export type DenseProjection = "identity" | "linear" | "mlp";
export type DenseGateGranularity = "channel" | "state";

export interface DenseOptions {
  /** How many preceding layers feed each layer (the paper's m). */
  readonly m: number;
  /** "state": fuse hidden states h before the C read-out (the paper); "input": fuse the SSM inputs x before the scan (cheaper ablation). */
  readonly fuse: DenseFuseTarget;
  /** The selective transition's projection over the channel axis: identity (default), linear E→E, or a SiLU MLP E→E/projMidRatio→E. */
  readonly projection: DenseProjection;
  /** Bottleneck ratio of the "mlp" projection (hidden = floor(E / ratio)). */
  readonly projMidRatio: number;
  /** Gate per channel (E, broadcast over N) or per (channel, state) (E·N). */
  readonly gate: DenseGateGranularity;
  /** Bottleneck ratio of the gate MLP d_model → floor(d_model / ratio) → E (or E·N), as @densessm/fusion sizes it. */
  readonly gateMidRatio: number;
  /** "zero": the gate MLP's output layer starts at zero, so a fresh DenseMamba computes exactly Mamba; "default": PyTorch's Linear init. */
  readonly gateInit: DenseGateInit;
}

export type DenseGateInit = "zero" | "default";

export interface MambaConfigOptions {
  dModel: number;
  nLayer: number;
  vocabSize: number;
  padVocabSizeMultiple?: number;
  dState?: number;
  dConv?: number;
  expand?: number;
  /** ceil(d_model / 16) when "auto" or not given. */
  dtRank?: number | "auto";
  dtMin?: number;
  dtMax?: number;
  dtInitFloor?: number;
  dtScale?: number;
  dtInit?: "random" | "constant";
  convBias?: boolean;
  bias?: boolean;
  rmsNorm?: boolean;
  normEpsilon?: number;
  residualInFp32?: boolean;
  fusedAddNorm?: boolean;
  tieEmbeddings?: boolean;
  initializerRange?: number;
  /** Tokens per scan chunk in full-sequence mode (ours; peak scan memory is B·E·chunk·N). */
  scanChunkSize?: number;
  dense?: Partial<DenseOptions> | undefined;
}

export const DENSE_DEFAULTS: DenseOptions = {
  m: 2,
  fuse: "state",
  projection: "identity",
  projMidRatio: 4,
  gate: "channel",
  gateMidRatio: 32,
  gateInit: "zero",
};

export class MambaConfig {
  readonly dModel: number;
  readonly nLayer: number;
  readonly vocabSize: number;
  readonly padVocabSizeMultiple: number;
  readonly dState: number;
  readonly dConv: number;
  readonly expand: number;
  readonly dtRank: number;
  readonly dtRankAuto: boolean;
  readonly dtMin: number;
  readonly dtMax: number;
  readonly dtInitFloor: number;
  readonly dtScale: number;
  readonly dtInit: "random" | "constant";
  readonly convBias: boolean;
  readonly bias: boolean;
  readonly rmsNorm: boolean;
  readonly normEpsilon: number;
  readonly residualInFp32: boolean;
  readonly fusedAddNorm: boolean;
  readonly tieEmbeddings: boolean;
  readonly initializerRange: number;
  readonly scanChunkSize: number;
  readonly dense: DenseOptions | undefined;

  constructor(o: MambaConfigOptions) {
    this.dModel = positiveInt(o.dModel, "d_model");
    this.nLayer = positiveInt(o.nLayer, "n_layer");
    this.vocabSize = positiveInt(o.vocabSize, "vocab_size");
    this.padVocabSizeMultiple = positiveInt(o.padVocabSizeMultiple ?? 8, "pad_vocab_size_multiple");
    this.dState = positiveInt(o.dState ?? 16, "d_state");
    this.dConv = positiveInt(o.dConv ?? 4, "d_conv");
    this.expand = positiveNumber(o.expand ?? 2, "expand");
    if (!Number.isInteger(this.expand * this.dModel)) throw new FormatError(`config: expand * d_model must be an integer, got ${this.expand} * ${this.dModel}`);
    this.dtRankAuto = o.dtRank === undefined || o.dtRank === "auto";
    this.dtRank = this.dtRankAuto ? Math.ceil(this.dModel / 16) : positiveInt(o.dtRank, "dt_rank");
    this.dtMin = positiveNumber(o.dtMin ?? 0.001, "dt_min");
    this.dtMax = positiveNumber(o.dtMax ?? 0.1, "dt_max");
    if (this.dtMin > this.dtMax) throw new FormatError(`config: dt_min (${this.dtMin}) must not exceed dt_max (${this.dtMax})`);
    this.dtInitFloor = positiveNumber(o.dtInitFloor ?? 1e-4, "dt_init_floor");
    this.dtScale = positiveNumber(o.dtScale ?? 1, "dt_scale");
    this.dtInit = oneOf(o.dtInit ?? "random", ["random", "constant"] as const, "dt_init");
    this.convBias = bool(o.convBias ?? true, "conv_bias");
    this.bias = bool(o.bias ?? false, "bias");
    this.rmsNorm = bool(o.rmsNorm ?? true, "rms_norm");
    this.normEpsilon = positiveNumber(o.normEpsilon ?? 1e-5, "norm_epsilon");
    this.residualInFp32 = bool(o.residualInFp32 ?? true, "residual_in_fp32");
    this.fusedAddNorm = bool(o.fusedAddNorm ?? true, "fused_add_norm");
    this.tieEmbeddings = bool(o.tieEmbeddings ?? true, "tie_embeddings");
    this.initializerRange = positiveNumber(o.initializerRange ?? 0.02, "initializer_range");
    this.scanChunkSize = positiveInt(o.scanChunkSize ?? 128, "scan_chunk_size");
    this.dense = o.dense === undefined ? undefined : checkDense({ ...DENSE_DEFAULTS, ...definedOnly(o.dense) });
  }

  /** E = expand · d_model, the SSM's channel count. */
  get dInner(): number {
    return this.expand * this.dModel;
  }

  /** The embedding's row count: vocab_size rounded up to pad_vocab_size_multiple (as MambaLMHeadModel does). */
  get paddedVocabSize(): number {
    const m = this.padVocabSizeMultiple;
    return Math.ceil(this.vocabSize / m) * m;
  }

  get isDense(): boolean {
    return this.dense !== undefined;
  }

  /** A copy with some options replaced. */
  with(changes: Partial<MambaConfigOptions>): MambaConfig {
    return new MambaConfig({ ...this.options(), ...changes });
  }

  options(): MambaConfigOptions {
    return {
      dModel: this.dModel,
      nLayer: this.nLayer,
      vocabSize: this.vocabSize,
      padVocabSizeMultiple: this.padVocabSizeMultiple,
      dState: this.dState,
      dConv: this.dConv,
      expand: this.expand,
      dtRank: this.dtRankAuto ? "auto" : this.dtRank,
      dtMin: this.dtMin,
      dtMax: this.dtMax,
      dtInitFloor: this.dtInitFloor,
      dtScale: this.dtScale,
      dtInit: this.dtInit,
      convBias: this.convBias,
      bias: this.bias,
      rmsNorm: this.rmsNorm,
      normEpsilon: this.normEpsilon,
      residualInFp32: this.residualInFp32,
      fusedAddNorm: this.fusedAddNorm,
      tieEmbeddings: this.tieEmbeddings,
      initializerRange: this.initializerRange,
      scanChunkSize: this.scanChunkSize,
      dense: this.dense,
    };
  }

  /** Parses config.json in the state-spaces form or the Hugging Face form (detected by its keys). */
  static fromJSON(json: unknown): MambaConfig {
    if (json === null || typeof json !== "object" || Array.isArray(json)) throw new FormatError("config: expected a JSON object");
    const j = json as Record<string, unknown>;
    if ("d_model" in j) return MambaConfig.fromStateSpaces(j);
    if ("hidden_size" in j) return MambaConfig.fromHuggingFace(j);
    throw new FormatError("config: neither the state-spaces form (d_model, n_layer, ssm_cfg) nor the Hugging Face form (hidden_size, num_hidden_layers, state_size)");
  }

  private static fromStateSpaces(j: Record<string, unknown>): MambaConfig {
    const ssm = (j.ssm_cfg ?? {}) as Record<string, unknown>;
    if (typeof ssm !== "object" || Array.isArray(ssm)) throw new FormatError("config: ssm_cfg must be an object");
    const knownSsm = new Set(["d_state", "d_conv", "expand", "dt_rank", "dt_min", "dt_max", "dt_init", "dt_scale", "dt_init_floor", "conv_bias", "bias", "use_fast_path", "layer"]);
    const unknown = Object.keys(ssm).filter((k) => !knownSsm.has(k));
    if (unknown.length) throw new FormatError(`config: unsupported ssm_cfg key(s): ${unknown.join(", ")}`);
    if (ssm.layer !== undefined && ssm.layer !== "Mamba1") throw new FormatError(`config: ssm_cfg.layer ${JSON.stringify(ssm.layer)} is not supported (only Mamba1)`);
    if (j.d_intermediate !== undefined && j.d_intermediate !== 0) throw new FormatError(`config: d_intermediate ${JSON.stringify(j.d_intermediate)} (a gated MLP per block) is not supported; only 0`);
    if (Array.isArray(j.attn_layer_idx) && j.attn_layer_idx.length) throw new FormatError("config: attention layers (attn_layer_idx) are not supported");
    return new MambaConfig({
      dModel: j.d_model as number,
      nLayer: j.n_layer as number,
      vocabSize: j.vocab_size as number,
      padVocabSizeMultiple: j.pad_vocab_size_multiple as number | undefined,
      dState: ssm.d_state as number | undefined,
      dConv: ssm.d_conv as number | undefined,
      expand: ssm.expand as number | undefined,
      dtRank: ssm.dt_rank as number | "auto" | undefined,
      dtMin: ssm.dt_min as number | undefined,
      dtMax: ssm.dt_max as number | undefined,
      dtInit: ssm.dt_init as "random" | undefined,
      dtScale: ssm.dt_scale as number | undefined,
      dtInitFloor: ssm.dt_init_floor as number | undefined,
      convBias: ssm.conv_bias as boolean | undefined,
      bias: ssm.bias as boolean | undefined,
      rmsNorm: j.rms_norm as boolean | undefined,
      normEpsilon: j.norm_epsilon as number | undefined,
      residualInFp32: j.residual_in_fp32 as boolean | undefined,
      fusedAddNorm: j.fused_add_norm as boolean | undefined,
      tieEmbeddings: j.tie_embeddings as boolean | undefined,
      initializerRange: (j.initializer_cfg as Record<string, unknown> | undefined)?.initializer_range as number | undefined,
      scanChunkSize: j.scan_chunk_size as number | undefined,
      dense: j.dense === undefined ? undefined : parseDense(j.dense),
    });
  }

  private static fromHuggingFace(j: Record<string, unknown>): MambaConfig {
    if (j.model_type !== undefined && j.model_type !== "mamba") throw new FormatError(`config: model_type ${JSON.stringify(j.model_type)} is not "mamba"`);
    if (j.hidden_act !== undefined && j.hidden_act !== "silu") throw new FormatError(`config: hidden_act ${JSON.stringify(j.hidden_act)} is not supported (only "silu")`);
    const hidden = j.hidden_size as number;
    const expand = j.expand as number | undefined;
    if (j.intermediate_size !== undefined && j.intermediate_size !== (expand ?? 2) * hidden) {
      throw new FormatError(`config: intermediate_size ${JSON.stringify(j.intermediate_size)} must equal expand * hidden_size = ${(expand ?? 2) * hidden}`);
    }
    return new MambaConfig({
      dModel: hidden,
      nLayer: j.num_hidden_layers as number,
      vocabSize: j.vocab_size as number,
      // transformers sizes the embedding to vocab_size exactly.
      padVocabSizeMultiple: 1,
      dState: j.state_size as number | undefined,
      dConv: j.conv_kernel as number | undefined,
      expand,
      dtRank: j.time_step_rank as number | "auto" | undefined,
      dtMin: j.time_step_min as number | undefined,
      dtMax: j.time_step_max as number | undefined,
      dtInit: j.time_step_init_scheme as "random" | undefined,
      dtScale: j.time_step_scale as number | undefined,
      dtInitFloor: j.time_step_floor as number | undefined,
      convBias: j.use_conv_bias as boolean | undefined,
      bias: j.use_bias as boolean | undefined,
      rmsNorm: true,
      normEpsilon: j.layer_norm_epsilon as number | undefined,
      residualInFp32: j.residual_in_fp32 as boolean | undefined,
      tieEmbeddings: j.tie_word_embeddings as boolean | undefined,
      initializerRange: j.initializer_range as number | undefined,
      dense: j.dense === undefined ? undefined : parseDense(j.dense),
    });
  }

  /** The state-spaces form, plus `scan_chunk_size` and (for DenseMamba) a `dense` section with every option. */
  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = {
      d_model: this.dModel,
      d_intermediate: 0,
      n_layer: this.nLayer,
      vocab_size: this.vocabSize,
      ssm_cfg: {
        d_state: this.dState,
        d_conv: this.dConv,
        expand: this.expand,
        dt_rank: this.dtRankAuto ? "auto" : this.dtRank,
        dt_min: this.dtMin,
        dt_max: this.dtMax,
        dt_init: this.dtInit,
        dt_scale: this.dtScale,
        dt_init_floor: this.dtInitFloor,
        conv_bias: this.convBias,
        bias: this.bias,
      },
      rms_norm: this.rmsNorm,
      norm_epsilon: this.normEpsilon,
      residual_in_fp32: this.residualInFp32,
      fused_add_norm: this.fusedAddNorm,
      pad_vocab_size_multiple: this.padVocabSizeMultiple,
      tie_embeddings: this.tieEmbeddings,
      initializer_cfg: { initializer_range: this.initializerRange },
      scan_chunk_size: this.scanChunkSize,
    };
    if (this.dense) {
      const d = this.dense;
      out.architecture = "DenseMamba";
      out.dense = { m: d.m, fuse: d.fuse, projection: d.projection, proj_mid_ratio: d.projMidRatio, gate: d.gate, gate_mid_ratio: d.gateMidRatio, gate_init: d.gateInit };
    }
    return out;
  }
}

function parseDense(raw: unknown): Partial<DenseOptions> {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new FormatError("config: dense must be an object");
  const r = raw as Record<string, unknown>;
  const known = new Set(["m", "fuse", "projection", "proj_mid_ratio", "gate", "gate_mid_ratio", "gate_init"]);
  const unknown = Object.keys(r).filter((k) => !known.has(k));
  if (unknown.length) throw new FormatError(`config: unknown dense option(s): ${unknown.join(", ")} (known: ${[...known].join(", ")})`);
  return definedOnly({
    m: r.m as number | undefined,
    fuse: r.fuse as DenseFuseTarget | undefined,
    projection: r.projection as DenseProjection | undefined,
    projMidRatio: r.proj_mid_ratio as number | undefined,
    gate: r.gate as DenseGateGranularity | undefined,
    gateMidRatio: r.gate_mid_ratio as number | undefined,
    gateInit: r.gate_init as DenseGateInit | undefined,
  });
}

function checkDense(d: DenseOptions): DenseOptions {
  const out: DenseOptions = {
    m: positiveInt(d.m, "dense.m"),
    fuse: oneOf(d.fuse, ["state", "input"] as const, "dense.fuse"),
    projection: oneOf(d.projection, ["identity", "linear", "mlp"] as const, "dense.projection"),
    projMidRatio: positiveNumber(d.projMidRatio, "dense.proj_mid_ratio"),
    gate: oneOf(d.gate, ["channel", "state"] as const, "dense.gate"),
    gateMidRatio: positiveNumber(d.gateMidRatio, "dense.gate_mid_ratio"),
    gateInit: oneOf(d.gateInit, ["zero", "default"] as const, "dense.gate_init"),
  };
  if (out.fuse === "input" && out.gate === "state") throw new FormatError('config: dense.gate "state" needs dense.fuse "state" (the SSM input x has no state axis)');
  return out;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function positiveInt(v: unknown, key: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) throw new FormatError(`config: ${key} must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

function positiveNumber(v: unknown, key: string): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) throw new FormatError(`config: ${key} must be a positive number, got ${JSON.stringify(v)}`);
  return v;
}

function bool(v: unknown, key: string): boolean {
  if (typeof v !== "boolean") throw new FormatError(`config: ${key} must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

function oneOf<T extends string>(v: unknown, allowed: readonly T[], key: string): T {
  if (!allowed.includes(v as T)) throw new FormatError(`config: ${key} must be one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}, got ${JSON.stringify(v)}`);
  return v as T;
}
