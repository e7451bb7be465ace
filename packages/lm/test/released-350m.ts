// A synthetic checkpoint in the layout of the released DenseGAU-RetNet 350M (random weights): the
// released config variant (model_type "DenseGauRetNet", vocabulary 32001, dense depth 2, explicit
// select scales) with 373,277,184 parameters. Written tensor by tensor, so writing it never holds
// more than one tensor; used by the loading test and the loading benchmark.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CausalLM, Tensor, writeFileAtomic, writeSafetensors, writeTorchCheckpoint, type PendingTensor } from "@densessm/core";
import "../src/families.js";

export const RELEASED_350M_CONFIG = {
  architectures: ["DenseGauRetNetForCausalLM"],
  model_type: "DenseGauRetNet",
  hidden_size: 1536,
  query_key_dim: 768,
  num_attention_heads: 2,
  num_hidden_layers: 16,
  v_factor: 2,
  dense_block_layers: 2,
  intermediate_k_select_scale: 8,
  intermediate_v_select_scale: 32,
  vocab_size: 32001,
  rms_norm_eps: 1e-6,
  max_position_embeddings: 2048,
  tie_word_embeddings: false,
  torch_dtype: "float32",
} as const;

export const RELEASED_350M_PARAMETERS = 373_277_184;

/** A 10-token character tokenizer (fits any vocabulary). */
export const TINY_TOKENIZER = JSON.stringify({
  added_tokens: [{ id: 0, content: "<unk>", special: true }],
  model: { type: "BPE", unk_token: "<unk>", vocab: Object.fromEntries(["<unk>", ..."abcdefgh "].map((t, id) => [t, id])), merges: [] },
});

/** Every tensor of the layout, its values drawn when written (the same values every time). */
export function syntheticTensors(): PendingTensor[] {
  const shapes = [...CausalLM.fromConfig(RELEASED_350M_CONFIG, { initialize: false }).stateDict()].map(([name, t]) => [name, t.shape] as const);
  return shapes.map(([name, shape], i) => ({
    name,
    dtype: "float32",
    shape,
    values: () => {
      if (name.endsWith("retnet_rel_pos.angle") || name.endsWith("retnet_rel_pos.decay")) return CausalLM.fromConfig(RELEASED_350M_CONFIG, { initialize: false }).stateDict().get(name)!;
      const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
      const norm = /norm\.weight$/.test(name);
      let x = (0x9e3779b9 ^ (i * 0x85ebca6b)) >>> 0 || 1;
      for (let j = 0; j < data.length; j++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        const u = (x >>> 0) / 4294967296 - 0.5;
        data[j] = norm ? 1 + 0.1 * u : 0.04 * u;
      }
      return new Tensor(data, shape, "float32");
    },
  }));
}

export type SyntheticFormat = "safetensors" | "bin" | "sharded-bin";

/** Writes one format of the synthetic checkpoint (plus config.json and a tokenizer) into `dir`. */
export async function writeSynthetic350M(dir: string, format: SyntheticFormat): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "config.json"), JSON.stringify(RELEASED_350M_CONFIG, null, 2));
  await writeFile(join(dir, "tokenizer.json"), TINY_TOKENIZER);
  const tensors = syntheticTensors();
  if (format === "safetensors") return writeSafetensors(join(dir, "model.safetensors"), tensors, { format: "pt" });
  if (format === "bin") return writeTorchCheckpoint(join(dir, "pytorch_model.bin"), tensors);
  const half = Math.ceil(tensors.length / 2);
  const shards = [tensors.slice(0, half), tensors.slice(half)];
  const weightMap: Record<string, string> = {};
  for (const [k, shard] of shards.entries()) {
    const file = `pytorch_model-0000${k + 1}-of-00002.bin`;
    await writeTorchCheckpoint(join(dir, file), shard);
    for (const t of shard) weightMap[t.name] = file;
  }
  await writeFileAtomic(join(dir, "pytorch_model.bin.index.json"), JSON.stringify({ metadata: {}, weight_map: weightMap }, null, 2));
}
