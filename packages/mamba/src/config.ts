import { FormatError, type ModelConfig } from "@densessm/core";

// The model configuration, read from either config.json form:
//  - state-spaces/mamba (`MambaConfig` in mamba_ssm/models/config_mamba.py): d_model, n_layer,
//    vocab_size, ssm_cfg {d_state, d_conv, expand, dt_rank, ...}, rms_norm, pad_vocab_size_multiple,
//    tie_embeddings;
//  - Hugging Face transformers (`MambaConfig`, model_type "mamba"): hidden_size,
//    num_hidden_layers, state_size, conv_kernel, expand, time_step_rank, use_bias, use_conv_bias,
//    layer_norm_epsilon, tie_word_embeddings, ...
// and written back in the state-spaces form, with a `dense` section when the model is a DenseMamba.
// `residual_in_fp32` and `fused_add_norm` only choose how the official code computes the same
// values (we compute in float32 throughout), so they are neither read nor written.

/** How a DenseMamba layer fuses its predecessors (see README.md, "DenseMamba"). */
export type DenseFuseTarget = "state" | "input";
export type DenseProjection = "identity" | "linear" | "mlp";
export type DenseGateGranularity = "channel" | "state";
export type DenseGateInit = "zero" | "default";

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

export const DENSE_DEFAULTS: DenseOptions = {
  m: 2,
  fuse: "state",
  projection: "identity",
  projMidRatio: 4,
  gate: "channel",
  gateMidRatio: 32,
  gateInit: "zero",
};

type Check = (value: unknown, key: string) => unknown;

/**
 * Every option once: its key in each file form (a dotted path into the state-spaces form, `null`
 * where the Hugging Face form has no such key), its default and its check. Parsing, defaults,
 * `options()` and `toJSON()` are all driven by this table.
 */
const FIELDS = {
  dModel: { ss: "d_model", hf: "hidden_size", check: atMost(65_536) },
  nLayer: { ss: "n_layer", hf: "num_hidden_layers", check: atMost(1024) },
  vocabSize: { ss: "vocab_size", hf: "vocab_size", check: atMost(16_777_216) },
  // transformers sizes the embedding to vocab_size exactly.
  padVocabSizeMultiple: { ss: "pad_vocab_size_multiple", hf: null, hfValue: 1, default: 8, check: positiveInt },
  dState: { ss: "ssm_cfg.d_state", hf: "state_size", default: 16, check: atMost(4096) },
  dConv: { ss: "ssm_cfg.d_conv", hf: "conv_kernel", default: 4, check: atMost(1024) },
  expand: { ss: "ssm_cfg.expand", hf: "expand", default: 2, check: positiveNumber },
  /** ceil(d_model / 16) when "auto". */
  dtRank: { ss: "ssm_cfg.dt_rank", hf: "time_step_rank", default: "auto", check: (v: unknown, k: string) => (v === "auto" ? v : positiveInt(v, k)) },
  dtMin: { ss: "ssm_cfg.dt_min", hf: "time_step_min", default: 0.001, check: positiveNumber },
  dtMax: { ss: "ssm_cfg.dt_max", hf: "time_step_max", default: 0.1, check: positiveNumber },
  dtInit: { ss: "ssm_cfg.dt_init", hf: "time_step_init_scheme", default: "random", check: (v: unknown, k: string) => oneOf(v, ["random", "constant"] as const, k) },
  dtScale: { ss: "ssm_cfg.dt_scale", hf: "time_step_scale", default: 1, check: positiveNumber },
  dtInitFloor: { ss: "ssm_cfg.dt_init_floor", hf: "time_step_floor", default: 1e-4, check: positiveNumber },
  convBias: { ss: "ssm_cfg.conv_bias", hf: "use_conv_bias", default: true, check: bool },
  bias: { ss: "ssm_cfg.bias", hf: "use_bias", default: false, check: bool },
  rmsNorm: { ss: "rms_norm", hf: null, hfValue: true, default: true, check: bool },
  normEpsilon: { ss: "norm_epsilon", hf: "layer_norm_epsilon", default: 1e-5, check: positiveNumber },
  tieEmbeddings: { ss: "tie_embeddings", hf: "tie_word_embeddings", default: true, check: bool },
  initializerRange: { ss: "initializer_cfg.initializer_range", hf: "initializer_range", default: 0.02, check: positiveNumber },
  /** Tokens per scan chunk in the full-sequence form (ours; peak scan memory is B·E·chunk·N). */
  scanChunkSize: { ss: "scan_chunk_size", hf: "scan_chunk_size", default: 128, check: positiveInt },
} satisfies Record<string, { ss: string; hf: string | null; hfValue?: unknown; default?: unknown; check: Check }>;

type FieldName = keyof typeof FIELDS;
type Value<F extends FieldName> = ReturnType<(typeof FIELDS)[F]["check"]>;

/** The options a MambaConfig is built from (camelCase); the required ones have no default. */
export type MambaConfigOptions = { dModel: number; nLayer: number; vocabSize: number } & { [F in Exclude<FieldName, "dModel" | "nLayer" | "vocabSize">]?: Value<F> } & {
  dense?: Partial<DenseOptions> | undefined;
};

type Resolved = { readonly [F in FieldName]: Value<F> } & { readonly dense: DenseOptions | undefined };

// The class's fields are the table's (declaration merging with the interface below).
// eslint-disable-next-line @typescript-eslint/no-empty-object-type, @typescript-eslint/no-unsafe-declaration-merging
export interface MambaConfig extends Resolved {}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class MambaConfig implements ModelConfig {
  readonly family = "mamba";

  constructor(options: MambaConfigOptions) {
    const resolved: Record<string, unknown> = {};
    for (const [name, field] of Object.entries(FIELDS) as [FieldName, (typeof FIELDS)[FieldName]][]) {
      const given = (options as Record<string, unknown>)[name];
      const value = given === undefined && "default" in field ? field.default : given;
      resolved[name] = field.check(value, field.ss.split(".").pop()!);
    }
    resolved.dense = options.dense === undefined ? undefined : checkDense({ ...DENSE_DEFAULTS, ...definedOnly(options.dense) });
    Object.assign(this, resolved);
    if (!Number.isInteger(this.expand * this.dModel)) throw new FormatError(`config: expand * d_model must be an integer, got ${this.expand} * ${this.dModel}`);
    if (this.dtMin > this.dtMax) throw new FormatError(`config: dt_min (${this.dtMin}) must not exceed dt_max (${this.dtMax})`);
  }

  /** dt_rank as a number: ceil(d_model / 16) when "auto". */
  get resolvedDtRank(): number {
    return this.dtRank === "auto" ? Math.ceil(this.dModel / 16) : this.dtRank;
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
    const out: Record<string, unknown> = { dense: this.dense };
    for (const name of Object.keys(FIELDS)) out[name] = this[name as FieldName];
    return out as MambaConfigOptions;
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
    const ssm = j.ssm_cfg ?? {};
    if (typeof ssm !== "object" || ssm === null || Array.isArray(ssm)) throw new FormatError("config: ssm_cfg must be an object");
    const knownSsm = new Set([...Object.values(FIELDS).flatMap((f) => (f.ss.startsWith("ssm_cfg.") ? [f.ss.slice(8)] : [])), "use_fast_path", "layer"]);
    const unknown = Object.keys(ssm).filter((k) => !knownSsm.has(k));
    if (unknown.length) throw new FormatError(`config: unsupported ssm_cfg key(s): ${unknown.join(", ")}`);
    const layer = (ssm as Record<string, unknown>).layer;
    if (layer !== undefined && layer !== "Mamba1") throw new FormatError(`config: ssm_cfg.layer ${JSON.stringify(layer)} is not supported (only Mamba1)`);
    if (j.d_intermediate !== undefined && j.d_intermediate !== 0) throw new FormatError(`config: d_intermediate ${JSON.stringify(j.d_intermediate)} (a gated MLP per block) is not supported; only 0`);
    if (Array.isArray(j.attn_layer_idx) && j.attn_layer_idx.length) throw new FormatError("config: attention layers (attn_layer_idx) are not supported");
    return MambaConfig.fromFields(j, (field) => getPath(j, field.ss));
  }

  private static fromHuggingFace(j: Record<string, unknown>): MambaConfig {
    if (j.model_type !== undefined && j.model_type !== "mamba") throw new FormatError(`config: model_type ${JSON.stringify(j.model_type)} is not "mamba"`);
    if (j.hidden_act !== undefined && j.hidden_act !== "silu") throw new FormatError(`config: hidden_act ${JSON.stringify(j.hidden_act)} is not supported (only "silu")`);
    const expand = (j.expand ?? 2) as number;
    if (j.intermediate_size !== undefined && j.intermediate_size !== expand * (j.hidden_size as number)) {
      throw new FormatError(`config: intermediate_size ${JSON.stringify(j.intermediate_size)} must equal expand * hidden_size = ${expand * (j.hidden_size as number)}`);
    }
    return MambaConfig.fromFields(j, (field) => (field.hf === null ? field.hfValue : j[field.hf]));
  }

  private static fromFields(j: Record<string, unknown>, read: (field: { ss: string; hf: string | null; hfValue?: unknown }) => unknown): MambaConfig {
    const options: Record<string, unknown> = {};
    for (const [name, field] of Object.entries(FIELDS)) options[name] = read(field);
    options.dense = j.dense === undefined ? undefined : parseDense(j.dense);
    return new MambaConfig(options as MambaConfigOptions);
  }

  /** The state-spaces form, plus `scan_chunk_size` and (for DenseMamba) a `dense` section with every option. */
  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = { d_intermediate: 0 };
    for (const [name, field] of Object.entries(FIELDS)) setPath(out, field.ss, this[name as FieldName]);
    if (this.dense) {
      const d = this.dense;
      out.architecture = "DenseMamba";
      out.dense = { m: d.m, fuse: d.fuse, projection: d.projection, proj_mid_ratio: d.projMidRatio, gate: d.gate, gate_mid_ratio: d.gateMidRatio, gate_init: d.gateInit };
    }
    return out;
  }
}

function getPath(json: Record<string, unknown>, path: string): unknown {
  return path.split(".").reduce<unknown>((v, key) => (v !== null && typeof v === "object" ? (v as Record<string, unknown>)[key] : undefined), json);
}

function setPath(json: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split(".");
  let at = json;
  for (const key of keys.slice(0, -1)) at = (at[key] ??= {}) as Record<string, unknown>;
  at[keys[keys.length - 1]!] = value;
}

const DENSE_KEYS: Record<keyof DenseOptions, string> = { m: "m", fuse: "fuse", projection: "projection", projMidRatio: "proj_mid_ratio", gate: "gate", gateMidRatio: "gate_mid_ratio", gateInit: "gate_init" };

function parseDense(raw: unknown): Partial<DenseOptions> {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new FormatError("config: dense must be an object");
  const r = raw as Record<string, unknown>;
  const known = Object.values(DENSE_KEYS);
  const unknown = Object.keys(r).filter((k) => !known.includes(k));
  if (unknown.length) throw new FormatError(`config: unknown dense option(s): ${unknown.join(", ")} (known: ${known.join(", ")})`);
  return definedOnly(Object.fromEntries(Object.entries(DENSE_KEYS).map(([option, key]) => [option, r[key]])) as Partial<DenseOptions>);
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

/** A positive integer no larger than `max`: sizes beyond any real model are refused before anything is built. */
function atMost(max: number): (v: unknown, key: string) => number {
  return (v, key) => {
    const n = positiveInt(v, key);
    if (n > max) throw new FormatError(`config: ${key} ${n} is larger than any model this library builds (at most ${max})`);
    return n;
  };
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
