import { CausalLM, DenseSSMError, writeFileAtomic, writeSafetensorsFolder, type DType, type PendingTensor } from "@densessm/core";
import { resolveSource, type ModelSource, type PretrainedOptions } from "./pretrained.js";

/** The tokenizer files a Hugging Face folder may hold; convert copies whichever exist, unchanged. */
export const TOKENIZER_FILES: readonly string[] = ["tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"];

export interface ConvertOptions extends PretrainedOptions {
  /** Weight dtype of the output (default float32). */
  dtype?: Extract<DType, "float32" | "float16" | "bfloat16">;
  /** Shard the weights above this many bytes (default 2 GiB, as a file a browser can still fetch whole). */
  maxShardBytes?: number;
}

export interface ConvertResult {
  family: string;
  parameters: number;
  dtype: DType;
  /** Files written, relative to the output folder. */
  files: string[];
}

/**
 * Rewrites any checkpoint we load (safetensors, pytorch_model.bin, sharded, a training run, a hub
 * model) as a clean Hugging Face folder: config.json, model.safetensors (sharded with an index
 * above `maxShardBytes`) under the official names — rel-pos buffers included, so the official code
 * loads it with strict=True — and the tokenizer files. One tensor is converted at a time.
 */
export async function convertModel(source: ModelSource, out: string, options: ConvertOptions = {}): Promise<ConvertResult> {
  const { mkdir } = await import("node:fs/promises");
  const { join } = await import("node:path");
  const dtype = options.dtype ?? "float32";
  if (!["float32", "float16", "bfloat16"].includes(dtype)) throw new DenseSSMError(`convert: dtype must be float32, float16 or bfloat16, got ${String(dtype)}`);
  const files = await resolveSource(source, options);
  const lm = await CausalLM.fromPretrained(files, options);
  if (lm.quantization) throw new DenseSSMError(`convert: ${files.location} is quantized (${lm.quantization.bits} bits), which Hugging Face layouts cannot hold; convert its float model`);
  await mkdir(out, { recursive: true });
  // Parameters take the requested dtype; buffers (RetNet's rel-pos angles and decays) stay as the
  // model computes them, since half precision would move every position's rotation.
  const parameters = new Set(lm.module.allNamedParameters().map(([name]) => name));
  const tensors: PendingTensor[] = [...lm.stateDict()].map(([name, t]) => {
    const target = parameters.has(name) && t.dtype !== "int32" ? dtype : t.dtype;
    return { name, dtype: target, shape: t.shape, values: () => (t.dtype === target ? t : t.to(target)) };
  });
  const weights = await writeSafetensorsFolder(out, tensors, { maxShardBytes: options.maxShardBytes ?? 2 * 1024 ** 3 });
  const config = lm.config.toJSON();
  // Hugging Face configs say what their weights are stored as; formats without the key keep none.
  if ("torch_dtype" in config) config.torch_dtype = dtype;
  await writeFileAtomic(join(out, "config.json"), `${JSON.stringify(config, null, 2)}\n`);
  const copied: string[] = [];
  for (const name of TOKENIZER_FILES) {
    const bytes = await files.read(name);
    if (!bytes) continue;
    await writeFileAtomic(join(out, name), bytes);
    copied.push(name);
  }
  return { family: lm.family, parameters: lm.numParameters(), dtype, files: ["config.json", ...weights, ...copied] };
}
