import { FormatError } from "@densessm/core";
import type { FusionMode } from "@densessm/fusion";

/** How the selective transition maps an earlier layer's k or v before fusion. */
export type DenseProjectionKind = "identity" | "linear" | "mlp";

/**
 * The dense k/v connection's design, for the paper's ablations. The defaults are the official
 * DenseRetNet: identity projection, the SiLU(select(x)) gate, fusion by addition, then k_norm/v_norm.
 * Each option is one config.json key, read only when present, so official configs load unchanged
 * and a config written by the official code stays exactly as it was.
 */
export interface DenseKVOptions {
  /** `dense_projection`: φ's projection of k_i / v_i (one per layer, shared by its m earlier layers). */
  readonly projection: DenseProjectionKind;
  /** `dense_projection_ratio`: the "mlp" projection's bottleneck, hidden = floor(width / ratio). */
  readonly projectionRatio: number;
  /** `dense_gate`: multiply φ by SiLU(k_select(x)) / SiLU(v_select(x)); false drops the select MLPs. */
  readonly gate: boolean;
  /** `dense_fusion`: "add" (k + Σ φ_i) or "concat" (a Linear over [k; φ_1; …; φ_m]). */
  readonly fusion: FusionMode;
  /** `dense_norm`: RMSNorm the fused k and v (k_norm / v_norm); false drops them. */
  readonly norm: boolean;
}

export const DENSE_KV_DEFAULTS: DenseKVOptions = { projection: "identity", projectionRatio: 4, gate: true, fusion: "add", norm: true };

/** The config.json key of each option. */
export const DENSE_KV_KEYS: Readonly<Record<keyof DenseKVOptions, string>> = {
  projection: "dense_projection",
  projectionRatio: "dense_projection_ratio",
  gate: "dense_gate",
  fusion: "dense_fusion",
  norm: "dense_norm",
};

/** Reads the dense_* ablation keys of a config.json (absent keys take the official defaults). */
export function parseDenseKVOptions(json: Readonly<Record<string, unknown>>): DenseKVOptions {
  const read = <K extends keyof DenseKVOptions>(option: K, check: (v: unknown) => boolean, expected: string): DenseKVOptions[K] => {
    const key = DENSE_KV_KEYS[option];
    const value = json[key];
    if (value === undefined) return DENSE_KV_DEFAULTS[option];
    if (!check(value)) throw new FormatError(`config: "${key}" must be ${expected}, got ${JSON.stringify(value)}`);
    return value as DenseKVOptions[K];
  };
  const oneOf = (allowed: readonly string[]) => [(v: unknown) => allowed.includes(v as string), allowed.map((a) => `"${a}"`).join(" or ")] as const;
  const isBool = (v: unknown) => typeof v === "boolean";
  return {
    projection: read("projection", ...oneOf(["identity", "linear", "mlp"])),
    projectionRatio: read("projectionRatio", (v) => typeof v === "number" && Number.isFinite(v) && v > 0, "a positive number"),
    gate: read("gate", isBool, "true or false"),
    fusion: read("fusion", ...oneOf(["add", "concat"])),
    norm: read("norm", isBool, "true or false"),
  };
}
