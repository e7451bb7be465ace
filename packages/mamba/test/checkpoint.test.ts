import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CausalLM, FormatError, readSafetensorsFolder, Tensor, writeSafetensorsFolder } from "@densessm/core";
import { describe, expect, it } from "vitest";
import { MambaConfig, detectLayout } from "../src/index.js";
import { cpuSession, createMamba, FIXTURE, flat, loadCase, maxAbsDiff } from "./helpers.js";

const tmp = () => mkdtempSync(join(tmpdir(), "densessm-mamba-"));

function bytes(t: Tensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** The fixture rewritten in the transformers layout: HF config keys, `embeddings`, head stored once. */
async function writeHuggingFaceCopy(dir: string): Promise<void> {
  const tensors = await readSafetensorsFolder(FIXTURE);
  const hf = new Map<string, Tensor>();
  for (const [name, t] of tensors) {
    if (name === "lm_head.weight") continue;
    hf.set(name === "backbone.embedding.weight" ? "backbone.embeddings.weight" : name, t);
  }
  await writeSafetensorsFolder(dir, hf);
  const config = {
    model_type: "mamba",
    architectures: ["MambaForCausalLM"],
    hidden_size: 32,
    num_hidden_layers: 2,
    vocab_size: 101,
    state_size: 16,
    conv_kernel: 4,
    expand: 2,
    intermediate_size: 64,
    time_step_rank: "auto",
    use_bias: false,
    use_conv_bias: true,
    layer_norm_epsilon: 1e-5,
    residual_in_fp32: true,
    tie_word_embeddings: true,
    hidden_act: "silu",
  };
  writeFileSync(join(dir, "config.json"), JSON.stringify(config));
}

describe("checkpoints", () => {
  const c = loadCase();

  it("loads the transformers layout (HF config, `embeddings`, tied head stored once) to the same logits", async () => {
    const dir = tmp();
    await writeHuggingFaceCopy(dir);
    expect(detectLayout(await readSafetensorsFolder(dir))).toBe("transformers");
    const model = await CausalLM.fromPretrained(dir);
    expect((model.config as MambaConfig).resolvedDtRank).toBe(2);
    const logits = await model.logits(cpuSession(), c.input_ids, "parallel");
    expect(maxAbsDiff(flat(logits), c.logits_parallel.flat(2))).toBeLessThanOrEqual(1e-4);
  });

  it("saves in the state-spaces layout with a bit-exact round trip", async () => {
    const original = await readSafetensorsFolder(FIXTURE);
    const model = await CausalLM.fromPretrained(FIXTURE);
    const dir = tmp();
    await model.save(dir);
    const saved = await readSafetensorsFolder(dir);
    expect([...saved.keys()].sort()).toEqual([...original.keys()].sort());
    for (const [name, t] of original) {
      const s = saved.get(name)!;
      expect(s.shape, name).toEqual(t.shape);
      expect(s.dtype, name).toBe(t.dtype);
      expect(Buffer.from(bytes(s)).equals(Buffer.from(bytes(t))), name).toBe(true);
    }
    // The saved config reads back to the same configuration.
    const savedConfig = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
    expect(savedConfig.d_model).toBe(32);
    expect(MambaConfig.fromJSON(savedConfig).toJSON()).toEqual(savedConfig);
    const again = await CausalLM.fromPretrained(dir);
    const logits = await again.logits(cpuSession(), c.input_ids, "parallel");
    expect(maxAbsDiff(flat(logits), c.logits_parallel.flat(2))).toBeLessThanOrEqual(1e-4);
  });

  it("a transformers checkpoint saves to the state-spaces layout", async () => {
    const hfDir = tmp();
    await writeHuggingFaceCopy(hfDir);
    const out = tmp();
    await (await CausalLM.fromPretrained(hfDir)).save(out);
    const saved = await readSafetensorsFolder(out);
    const original = await readSafetensorsFolder(FIXTURE);
    for (const [name, t] of original) expect(Buffer.from(bytes(saved.get(name)!)).equals(Buffer.from(bytes(t))), name).toBe(true);
  });

  it("names every missing, extra and mis-shaped tensor", async () => {
    const tensors = await readSafetensorsFolder(FIXTURE);
    tensors.delete("backbone.layers.1.mixer.D");
    tensors.set("backbone.layers.0.mixer.A_log", Tensor.zeros([64, 8]));
    tensors.set("backbone.layers.0.mixer.bogus", Tensor.zeros([1]));
    const model = CausalLM.fromConfig(MambaConfig.fromJSON(JSON.parse(readFileSync(join(FIXTURE, "config.json"), "utf8"))));
    let message = "";
    try {
      model.loadStateDict(tensors);
    } catch (e) {
      expect(e).toBeInstanceOf(FormatError);
      message = (e as Error).message;
    }
    expect(message).toContain("backbone.layers.1.mixer.D");
    expect(message).toContain("backbone.layers.0.mixer.A_log");
    expect(message).toContain("backbone.layers.0.mixer.bogus");
  });

  it("rejects a tied head that differs from the embedding", async () => {
    const tensors = await readSafetensorsFolder(FIXTURE);
    tensors.set("lm_head.weight", Tensor.zeros([101, 32]));
    const model = createMamba({ dModel: 32, nLayer: 2, vocabSize: 101, padVocabSizeMultiple: 1 });
    expect(() => model.loadStateDict(tensors)).toThrow(/tensors "backbone.embedding.weight" and "lm_head.weight" are tied in this model \(one parameter\) but differ in the checkpoint/);
  });
});

describe("MambaConfig", () => {
  it("reads both forms to the same configuration", () => {
    const ss = MambaConfig.fromJSON({ d_model: 64, n_layer: 3, vocab_size: 1000, pad_vocab_size_multiple: 1, ssm_cfg: { d_state: 8, d_conv: 3 }, tie_embeddings: false });
    const hf = MambaConfig.fromJSON({ hidden_size: 64, num_hidden_layers: 3, vocab_size: 1000, state_size: 8, conv_kernel: 3, tie_word_embeddings: false });
    expect(hf.toJSON()).toEqual(ss.toJSON());
    expect(ss.resolvedDtRank).toBe(4);
    expect(ss.dInner).toBe(128);
  });

  it("applies the official defaults and pads the vocabulary", () => {
    const cfg = MambaConfig.fromJSON({ d_model: 40, n_layer: 1, vocab_size: 50277 });
    expect([cfg.dState, cfg.dConv, cfg.expand, cfg.resolvedDtRank, cfg.paddedVocabSize]).toEqual([16, 4, 2, 3, 50280]);
    expect(cfg.tieEmbeddings).toBe(true);
  });

  it("gives clear errors for bad values", () => {
    expect(() => MambaConfig.fromJSON({ d_model: -1, n_layer: 1, vocab_size: 5 })).toThrow(/d_model must be a positive integer/);
    expect(() => MambaConfig.fromJSON({ d_model: 8, n_layer: 1, vocab_size: 5, ssm_cfg: { d_sate: 4 } })).toThrow(/unsupported ssm_cfg key\(s\): d_sate/);
    expect(() => MambaConfig.fromJSON({ d_model: 8, n_layer: 1, vocab_size: 5, d_intermediate: 16 })).toThrow(/d_intermediate/);
    expect(() => MambaConfig.fromJSON({ hidden_size: 8, num_hidden_layers: 1, vocab_size: 5, hidden_act: "gelu" })).toThrow(/hidden_act/);
    expect(() => MambaConfig.fromJSON({ foo: 1 })).toThrow(/neither the state-spaces form/);
    expect(() => MambaConfig.fromJSON({ d_model: 8, n_layer: 1, vocab_size: 5, dense: { m: 0 } })).toThrow(/dense.m/);
    expect(() => MambaConfig.fromJSON({ d_model: 8, n_layer: 1, vocab_size: 5, dense: { fuse: "input", gate: "state" } })).toThrow(/needs dense.fuse/);
    expect(() => MambaConfig.fromJSON({ d_model: 8, n_layer: 1, vocab_size: 5, dense: { depth: 2 } })).toThrow(/unknown dense option/);
  });

  it("records every dense option in toJSON", () => {
    const cfg = MambaConfig.fromJSON({ d_model: 8, n_layer: 2, vocab_size: 5, dense: { m: 3, projection: "linear" } });
    expect(cfg.toJSON().dense).toEqual({ m: 3, fuse: "state", projection: "linear", proj_mid_ratio: 4, gate: "channel", gate_mid_ratio: 32, gate_init: "zero" });
    expect(MambaConfig.fromJSON(cfg.toJSON()).toJSON()).toEqual(cfg.toJSON());
  });
});
