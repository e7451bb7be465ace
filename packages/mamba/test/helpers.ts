import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { CausalLM, Session, type Rng, type Tensor } from "@densessm/core";
import { CpuBackend } from "@densessm/backend-cpu";
import { MambaConfig, type DenseOptions, type MambaConfigOptions } from "../src/index.js";

export const FIXTURE = fileURLToPath(new URL("../../../models/mamba-tiny", import.meta.url));

export interface Case {
  input_ids: number[][];
  logits_parallel: number[][][];
  logits_recurrent: number[][][];
}

export function loadCase(): Case {
  const file = `${FIXTURE}/case.json`;
  if (!existsSync(file)) throw new Error(`fixture missing: ${file} (the official Mamba fixture in models/ must be present; tests never skip it)`);
  return JSON.parse(readFileSync(file, "utf8")) as Case;
}

/** A freshly initialised Mamba / DenseMamba (the official initialisation, seeded). */
export function createMamba(options: MambaConfigOptions, seed = 0): CausalLM {
  return CausalLM.fromConfig(new MambaConfig(options), { seed });
}

/** config.json's `dense` section (snake_case) for camelCase DenseMamba options. */
export function denseJson(dense: Partial<DenseOptions>): unknown {
  return new MambaConfig({ dModel: 1, nLayer: 1, vocabSize: 1, dense }).toJSON().dense;
}

/** Loading options that turn the Mamba fixture into a DenseMamba computing exactly it (gates start at zero). */
export function asDense(dense: Partial<DenseOptions>) {
  return { config: { dense: denseJson(dense) }, keepMissing: (name: string) => name.includes(".dense_transitions.") };
}

export function cpuSession(): Session {
  return new Session(new CpuBackend());
}

/** Largest |a − b| over two equal-size float arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export function flat(t: Tensor): Float32Array {
  return t.toFloat32();
}

/**
 * At the official initialisation the D skip dominates and the scan's parameters (x_proj, dt_proj,
 * A_log) and the fusion gates move a float32 loss by less than its rounding, which would make their
 * checks vacuous. So we move every parameter to values where each path carries signal: larger
 * B/C projections and fusion gates, larger steps Δ, varied A, smaller D.
 */
export function amplifySsmPath(model: CausalLM, rng: Rng): void {
  for (const [name, p] of model.module.namedParameters()) {
    const data = p.value.data as Float32Array;
    const scale = (f: number) => data.forEach((v, i) => (data[i] = v * f));
    if (name.endsWith("x_proj.weight")) scale(4);
    else if (name.endsWith("dt_proj.bias")) data.forEach((v, i) => (data[i] = v + 2));
    else if (name.endsWith("A_log")) data.forEach((_, i) => (data[i] = Math.log(0.2 + 2 * rng.uniform())));
    else if (name.endsWith("mixer.D")) scale(0.2);
    else if (name.includes("dense_transitions")) scale(3);
    p.markUpdated();
  }
}

