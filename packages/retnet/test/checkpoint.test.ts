import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CpuBackend } from "@densessm/backend-cpu";
import { CausalLM, detectModelFamily, FormatError, readSafetensorsFolder, Rng, Session, Tensor, writeSafetensorsFolder } from "@densessm/core";
import { afterAll, describe, expect, it } from "vitest";
import { DenseGauRetNetConfig } from "../src/index.js";
import { FIXTURE_DIR, maxAbsDiff, randomIds, readFixtureCase } from "./helpers.js";

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "retnet-"));
  dirs.push(d);
  return d;
}
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function sameBits(a: Tensor, b: Tensor): boolean {
  const x = new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  const y = new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength);
  return a.dtype === b.dtype && a.shape.join() === b.shape.join() && x.length === y.length && x.every((v, i) => v === y[i]);
}

describe("checkpoints", () => {
  it("save then load round-trips every tensor bit for bit, with the official names", async () => {
    const lm = await CausalLM.fromPretrained(FIXTURE_DIR);
    const dir = await tempDir();
    await lm.save(dir);
    const original = await readSafetensorsFolder(FIXTURE_DIR);
    const saved = await readSafetensorsFolder(dir);
    // Ours plus the official rel-pos buffers, so the official code loads the folder with strict=True.
    expect([...saved.keys()].sort()).toEqual([...original.keys(), "model.retnet_rel_pos.angle", "model.retnet_rel_pos.decay"].sort());
    for (const [name, t] of original) expect(sameBits(saved.get(name)!, t), name).toBe(true);
    const again = await CausalLM.fromPretrained(dir);
    for (const [name, t] of lm.module.stateDict()) expect(sameBits(again.module.stateDict().get(name)!, t), name).toBe(true);
    expect(JSON.parse(await readFile(join(dir, "config.json"), "utf8"))).toEqual(JSON.parse(await readFile(join(FIXTURE_DIR, "config.json"), "utf8")));
    const f = readFixtureCase();
    const logits = await again.logits(new Session(new CpuBackend()), f.input_ids, "parallel");
    expect(maxAbsDiff(logits, f.logits_parallel.flat(2))).toBeLessThanOrEqual(1e-4);
  });

  it("loads sharded, f16 and bf16 checkpoints", async () => {
    const tensors = await readSafetensorsFolder(FIXTURE_DIR);
    const sharded = await tempDir();
    await writeSafetensorsFolder(sharded, tensors, { maxShardBytes: 40_000 });
    await copyFile(join(FIXTURE_DIR, "config.json"), join(sharded, "config.json"));
    const a = await CausalLM.fromPretrained(sharded);
    for (const [name, t] of tensors) expect(sameBits(a.module.stateDict().get(name)!, t), name).toBe(true);
    for (const dtype of ["float16", "bfloat16"] as const) {
      const dir = await tempDir();
      await writeSafetensorsFolder(dir, new Map([...tensors].map(([n, t]) => [n, t.to(dtype)])));
      await copyFile(join(FIXTURE_DIR, "config.json"), join(dir, "config.json"));
      const lm = await CausalLM.fromPretrained(dir);
      const w = lm.module.stateDict().get("lm_head.weight")!;
      expect(w.dtype).toBe("float32");
      expect(maxAbsDiff(w, tensors.get("lm_head.weight")!.toFloat32())).toBeLessThan(0.02);
    }
  });

  it("names every unknown, missing and mis-shaped tensor", async () => {
    const tensors = await readSafetensorsFolder(FIXTURE_DIR);
    tensors.delete("model.layers.1.self_attn.k_norm.weight");
    tensors.set("model.layers.0.self_attn.bogus.weight", Tensor.zeros([3]));
    const dir = await tempDir();
    await writeSafetensorsFolder(dir, tensors);
    await copyFile(join(FIXTURE_DIR, "config.json"), join(dir, "config.json"));
    const err = await CausalLM.fromPretrained(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FormatError);
    const msg = (err as Error).message;
    expect(msg).toContain('missing tensor "model.layers.1.self_attn.k_norm.weight"');
    expect(msg).toContain('unexpected tensor "model.layers.0.self_attn.bogus.weight"');

    // A shape the config disagrees with is found from the headers, before any weight is read.
    tensors.set("model.norm.weight", Tensor.zeros([65]));
    tensors.set("lm_head.weight", Tensor.zeros([97, 65]));
    await writeSafetensorsFolder(dir, tensors);
    const shapes = ((await CausalLM.fromPretrained(dir).catch((e: unknown) => e)) as Error).message;
    expect(shapes).toContain('"model.norm.weight" is [65] in the weights, [64] by the config');
    expect(shapes).toContain('"lm_head.weight" is [97, 65] in the weights, [97, 64] by the config');
  });

  it("rejects bad configs with the key named", async () => {
    const base = JSON.parse(await readFile(join(FIXTURE_DIR, "config.json"), "utf8")) as Record<string, unknown>;
    expect(() => DenseGauRetNetConfig.fromJSON({ ...base, hidden_size: "64" })).toThrow(/hidden_size/);
    expect(() => DenseGauRetNetConfig.fromJSON({ ...base, query_key_dim: 33 })).toThrow(/query_key_dim/);
    expect(() => DenseGauRetNetConfig.fromJSON({ ...base, dense_block_layers: -1 })).toThrow(/dense_block_layers/);
    expect(() => DenseGauRetNetConfig.fromJSON({ ...base, deepnorm: true })).toThrow(/deepnorm/);
    expect(() => detectModelFamily({ model_type: "gpt2" })).toThrow(/no registered model family recognises this config \(model_type "gpt2"\)/);
    const dir = await tempDir();
    await writeFile(join(dir, "config.json"), "{not json");
    await expect(CausalLM.fromPretrained(dir)).rejects.toThrow(/config\.json: invalid JSON/);
  });

  it("builds, saves and reloads the released config variant", async () => {
    // The released checkpoints' config: model_type DenseGauRetNet, explicit select scales, m = 2,
    // vocab 32001 (shrunk here in width only).
    const config = DenseGauRetNetConfig.fromJSON({
      model_type: "DenseGauRetNet",
      architectures: ["DenseGauRetNetForCausalLM"],
      hidden_size: 32,
      query_key_dim: 16,
      num_attention_heads: 2,
      num_hidden_layers: 3,
      vocab_size: 32001,
      v_factor: 2,
      dense_block_layers: 2,
      intermediate_k_select_scale: 8,
      intermediate_v_select_scale: 4,
      rms_norm_eps: 1e-6,
      tie_word_embeddings: false,
    });
    expect(detectModelFamily(config.toJSON()).name).toBe("dense-gau-retnet");
    expect(config.denseBlockLayers).toBe(2);
    const lm = CausalLM.fromConfig(config, { seed: 5 });
    const sd = lm.module.stateDict();
    expect(sd.get("model.layers.0.self_attn.k_select.fc1.weight")!.shape).toEqual([4, 32]);
    expect(sd.get("model.layers.0.self_attn.v_select.fc1.weight")!.shape).toEqual([8, 32]);
    expect(sd.get("model.layers.0.self_attn.v_select.fc2.weight")!.shape).toEqual([64, 8]);
    expect(sd.get("lm_head.weight")!.shape).toEqual([32001, 32]);
    const dir = await tempDir();
    await lm.save(dir);
    const again = await CausalLM.fromPretrained(dir);
    for (const [name, t] of sd) expect(sameBits(again.module.stateDict().get(name)!, t), name).toBe(true);
    const session = new Session(new CpuBackend());
    const ids = randomIds(new Rng(1), 1, 6, 32001);
    const p = await again.logits(session, ids, "parallel");
    const r = await again.logits(session, ids, "recurrent");
    const c = await again.logits(session, ids, "chunkwise");
    expect(maxAbsDiff(r, p.toFloat32())).toBeLessThanOrEqual(1e-4);
    expect(maxAbsDiff(c, p.toFloat32())).toBeLessThanOrEqual(1e-4);
  });
});
