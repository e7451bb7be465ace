import { CpuBackend } from "@densessm/backend-cpu";
import { CausalLM, FormatError, gradName, parameterFiniteDifference, Rng, Session, Tensor, type ModelConfig } from "@densessm/core";
import { describe, expect, it } from "vitest";
import "../src/index.js"; // registers the families
import { DenseGauRetNetConfig, RetNetConfig, type DenseGauRetNetForCausalLM, type RetentionModel } from "../src/index.js";
import { maxAbsDiff, randomIds, tinyConfig } from "./helpers.js";

// The dense_* config keys: the paper's ablations of the selective transition (projection identity /
// linear / MLP, gate on / off), the hidden fusion (add / concat) and a plain model (m = 0 without
// the dense modules). Each variant is checked against an equivalent one built from the official
// modules, and for agreement of its three forms and its gradients.

const session = new Session(new CpuBackend());
const gau = (overrides: Record<string, unknown>) => tinyConfig({ num_hidden_layers: 3, dense_block_layers: 2, ...overrides });
const names = (lm: CausalLM) => lm.module.namedParameters().map(([n]) => n);
const shapeOf = (lm: CausalLM, name: string) => lm.module.namedParameters().find(([n]) => n === name)?.[1].shape;

async function logits(lm: CausalLM, ids: number[][], mode: "parallel" | "chunkwise" | "recurrent" = "parallel"): Promise<Float32Array> {
  return (await lm.logits(session, ids, mode)).toFloat32();
}

/** `to` with every parameter `from` also has copied over (by name). */
function copyShared(from: CausalLM, to: CausalLM): void {
  const source = new Map(from.module.namedParameters().map(([n, p]) => [n, p.value]));
  for (const [name, p] of to.module.namedParameters()) {
    const value = source.get(name);
    if (value) p.assign(value);
  }
}

/** Sets a matrix (or a vector, as one row) entry by entry. */
function setWeight(lm: CausalLM, name: string, fill: (row: number, col: number) => number): void {
  const p = lm.module.namedParameters().find(([n]) => n === name)![1];
  const [rows, cols] = p.shape.length === 2 ? (p.shape as [number, number]) : [1, p.shape[0]!];
  const data = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) data[r * cols + c] = fill(r, c);
  p.assign(new Tensor(data, [...p.shape], "float32"));
}

describe("dense_* config keys", () => {
  it("default to the official design and are never added to a config", () => {
    const config = gau({});
    expect(config.dense).toEqual({ projection: "identity", projectionRatio: 4, gate: true, fusion: "add", norm: true });
    expect(Object.keys(config.toJSON()).filter((k) => k.startsWith("dense_"))).toEqual(["dense_block_layers"]);
    const variant = gau({ dense_projection: "mlp", dense_fusion: "concat" });
    expect(DenseGauRetNetConfig.fromJSON(variant.toJSON()).dense).toEqual(variant.dense);
  });

  it("name the bad key and value", () => {
    for (const [key, value] of [["dense_projection", "conv"], ["dense_projection_ratio", 0], ["dense_gate", "yes"], ["dense_fusion", "mean"], ["dense_norm", 1]] as const) {
      expect(() => gau({ [key]: value }), key).toThrow(FormatError);
      expect(() => gau({ [key]: value }), key).toThrow(new RegExp(`"${key}" must be .*got ${JSON.stringify(value)}`));
      expect(() => RetNetConfig.fromJSON({ decoder_embed_dim: 32, decoder_retention_heads: 2, decoder_layers: 2, vocab_size: 9, dense_block_layers: 1, [key]: value }), key).toThrow(FormatError);
    }
  });

  it("build exactly the modules each variant needs, named for checkpoints", () => {
    const official = names(CausalLM.fromConfig(gau({})));
    expect(official.filter((n) => /self_attn\.(k_select|v_select)\.fc1/.test(n))).toHaveLength(6); // layer 0 too, as in the checkpoints
    expect(official.some((n) => /dense_proj|_fusion/.test(n))).toBe(false);

    const linear = CausalLM.fromConfig(gau({ dense_projection: "linear", dense_fusion: "concat" }));
    expect(shapeOf(linear, "model.layers.1.self_attn.k_dense_proj.weight")).toEqual([8, 8]);
    expect(shapeOf(linear, "model.layers.2.self_attn.v_dense_proj.weight")).toEqual([32, 32]);
    expect(shapeOf(linear, "model.layers.1.self_attn.k_fusion.proj.weight")).toEqual([8, 24]); // (m + 1)·qk → qk
    expect(names(linear).some((n) => n.startsWith("model.layers.0.self_attn.k_dense_proj") || n.startsWith("model.layers.0.self_attn.k_fusion"))).toBe(false);

    const mlp = CausalLM.fromConfig(gau({ dense_projection: "mlp", dense_projection_ratio: 2 }));
    expect(shapeOf(mlp, "model.layers.1.self_attn.v_dense_proj.fc1.weight")).toEqual([16, 32]);

    const ungated = names(CausalLM.fromConfig(gau({ dense_gate: false, dense_norm: false })));
    expect(ungated.some((n) => /select|k_norm|v_norm/.test(n))).toBe(false);

    // Plain GAU-RetNet: m = 0 without gates and norms has no dense parameter at all.
    const plain = CausalLM.fromConfig(gau({ dense_block_layers: 0, dense_gate: false, dense_norm: false }));
    expect(names(plain).some((n) => /select|_norm\.|dense_proj|_fusion/.test(n) && !n.includes("group_norm"))).toBe(false);
    const { hiddenSize: d, queryKeyDim: qk, expansionDim: e, vocabSize: v, headDim } = plain.config as DenseGauRetNetConfig;
    expect(plain.numParameters()).toBe(2 * v * d + d + 3 * (d + 2 * d * qk + 2 * d * e + e * d + headDim));
  });
});

describe("each variant computes what its definition says", () => {
  const ids = randomIds(new Rng(5), 2, 9, 13);

  it("m = 0 norms k and v in every layer after the first, as the official code does", async () => {
    const official = CausalLM.fromConfig(gau({ dense_block_layers: 0 }), { seed: 3 });
    const before = await logits(official, ids);
    // Per-channel weights (a uniform scale of k would cancel in the group norm).
    setWeight(official, "model.layers.2.self_attn.k_norm.weight", (_, c) => 1 + c);
    expect(maxAbsDiff(await logits(official, ids), before)).toBeGreaterThan(1e-3);
    const first = CausalLM.fromConfig(gau({ dense_block_layers: 0 }), { seed: 3 });
    setWeight(first, "model.layers.0.self_attn.k_norm.weight", (_, c) => 1 + c); // unused in layer 0
    expect(maxAbsDiff(await logits(first, ids), before)).toBe(0);
  });

  it("plain (m = 0, no gate, no norm) is a gated model whose gates are shut", async () => {
    const plain = CausalLM.fromConfig(gau({ dense_block_layers: 0, dense_gate: false, dense_norm: false }), { seed: 4 });
    const shut = CausalLM.fromConfig(gau({ dense_norm: false }), { seed: 9 });
    copyShared(plain, shut);
    for (const layer of [1, 2]) for (const kv of ["k", "v"]) setWeight(shut, `model.layers.${layer}.self_attn.${kv}_select.fc2.weight`, () => 0);
    expect(maxAbsDiff(await logits(shut, ids), await logits(plain, ids))).toBeLessThanOrEqual(1e-6);
  });

  it("a linear projection set to the identity is the identity projection", async () => {
    const identity = CausalLM.fromConfig(gau({ dense_gate: false }), { seed: 5 });
    const linear = CausalLM.fromConfig(gau({ dense_gate: false, dense_projection: "linear" }), { seed: 6 });
    copyShared(identity, linear);
    for (const layer of [1, 2]) for (const kv of ["k", "v"]) setWeight(linear, `model.layers.${layer}.self_attn.${kv}_dense_proj.weight`, (r, c) => (r === c ? 1 : 0));
    expect(maxAbsDiff(await logits(linear, ids), await logits(identity, ids))).toBeLessThanOrEqual(1e-5);
  });

  it("concat fusion with W = [I I … I] is add fusion", async () => {
    const add = CausalLM.fromConfig(gau({}), { seed: 7 });
    const concat = CausalLM.fromConfig(gau({ dense_fusion: "concat" }), { seed: 8 });
    copyShared(add, concat);
    for (const layer of [1, 2]) for (const kv of ["k", "v"]) setWeight(concat, `model.layers.${layer}.self_attn.${kv}_fusion.proj.weight`, (r, c) => (c % (kv === "k" ? 8 : 32) === r ? 1 : 0));
    expect(maxAbsDiff(await logits(concat, ids), await logits(add, ids))).toBeLessThanOrEqual(1e-5);
  });
});

const VARIANTS: Record<string, Record<string, unknown>> = {
  "linear projection, concat fusion": { dense_projection: "linear", dense_fusion: "concat" },
  "MLP projection, no gate, no norm": { dense_projection: "mlp", dense_projection_ratio: 2, dense_gate: false, dense_norm: false },
};

describe("the variants' three forms agree", () => {
  for (const [name, keys] of Object.entries(VARIANTS)) {
    for (const [family, config] of [["DenseGAU-RetNet", gau(keys)], ["RetNet", RetNetConfig.fromJSON({ decoder_embed_dim: 16, decoder_value_embed_dim: 24, decoder_retention_heads: 2, decoder_ffn_embed_dim: 20, decoder_layers: 3, vocab_size: 13, dense_block_layers: 2, dense_select_ratio: 4, ...keys })]] as [string, ModelConfig][]) {
      it(`${family}: ${name}`, async () => {
        const lm = new CausalLM((CausalLM.fromConfig(config, { seed: 11 }).model as RetentionModel).withOptions({ rowNormalize: false }), { chunkSize: 4 });
        for (const len of [1, 9]) {
          const x = randomIds(new Rng(len), 2, len, 13);
          const parallel = await logits(lm, x);
          expect(maxAbsDiff(await logits(lm, x, "chunkwise"), parallel), `chunkwise L = ${len}`).toBeLessThanOrEqual(1e-4);
          expect(maxAbsDiff(await logits(lm, x, "recurrent"), parallel), `recurrent L = ${len}`).toBeLessThanOrEqual(1e-4);
        }
      });
    }
  }
});

describe("finite-difference gradients of the variants", () => {
  for (const [name, keys] of Object.entries(VARIANTS)) {
    it(name, async () => {
      const lm = CausalLM.fromConfig(gau(keys), { seed: 21 });
      const emb = (lm.module as DenseGauRetNetForCausalLM).model.embed_tokens.weight.value.data as Float32Array;
      for (let i = 0; i < emb.length; i++) emb[i]! *= 25; // gradients well above float32 noise
      lm.bind(session);
      const x = randomIds(new Rng(4), 2, 6, 13);
      const feeds = { input_ids: Tensor.int32(x.flat(), [2, 6]), labels: Tensor.int32(x.flat(), [2, 6]) };
      const out = await session.run(lm.trainGraph(2, 6), feeds);
      const rng = new Rng(9);
      let checked = 0;
      for (const [param, p] of lm.module.namedParameters()) {
        if (!/dense_proj|_fusion|_select/.test(param)) continue;
        if (param.includes("layers.0.")) {
          expect(out[gradName(param)], param).toBeUndefined(); // the first layer reads no earlier layer
          continue;
        }
        const grad = out[gradName(param)]!.toFloat32();
        for (let trial = 0; trial < 2; trial++) {
          const i = rng.int(p.value.size);
          const fd = await parameterFiniteDifference(session, lm.lossGraph(2, 6), feeds, p, i, 5e-3);
          expect(Math.abs(fd - grad[i]!), `${param}[${i}] fd=${fd} grad=${grad[i]}`).toBeLessThanOrEqual(2e-2 * Math.abs(fd) + 2e-4);
          checked++;
        }
      }
      expect(checked).toBeGreaterThanOrEqual(16);
    });
  }
});
