import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Tensor } from "@densessm/core";

export const FIXTURE_DIR = fileURLToPath(new URL("../../../models/dense-gau-retnet-tiny", import.meta.url));

export interface FixtureCase {
  input_ids: number[][];
  logits_parallel: number[][][];
  logits_recurrent: number[][][];
}

export function readFixtureCase(): FixtureCase {
  const file = `${FIXTURE_DIR}/case.json`;
  if (!existsSync(file)) throw new Error(`fixture missing: ${file} (the DenseGAU-RetNet reference case must exist; it is not optional)`);
  return JSON.parse(readFileSync(file, "utf8")) as FixtureCase;
}

export function maxAbsDiff(a: Tensor | Float32Array, b: ArrayLike<number>): number {
  const x = a instanceof Float32Array ? a : a.toFloat32();
  if (x.length !== b.length) throw new Error(`length mismatch: ${x.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - b[i]!));
  return m;
}

import { DenseGauRetNetConfig } from "../src/config.js";

/** A tiny DenseGAU-RetNet config (hidden 32, 2 heads of key width 4 and value width 16). */
export function tinyConfig(overrides: Record<string, unknown> = {}): DenseGauRetNetConfig {
  return DenseGauRetNetConfig.fromJSON({
    model_type: "llama",
    hidden_size: 32,
    query_key_dim: 8,
    num_attention_heads: 2,
    num_hidden_layers: 2,
    vocab_size: 13,
    v_factor: 1,
    dense_block_layers: 1,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: false,
    ...overrides,
  });
}

export function randomIds(rng: { int(n: number): number }, batch: number, len: number, vocab: number): number[][] {
  return Array.from({ length: batch }, () => Array.from({ length: len }, () => rng.int(vocab)));
}
