import { CausalLM, DenseSSMError, quantizableModules, type QuantizationConfig, type QuantizeOptions } from "@densessm/core";
import { resolveModelDir } from "./checkpoint.js";

/** Files copied beside the quantized weights, when the source folder has them. */
const COMPANION_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model", "vocab.json", "merges.txt", "generation_config.json"];

export interface QuantizeModelOptions extends QuantizeOptions {
  /** A model folder or a training run (its latest checkpoint). */
  readonly model: string;
  /** The folder to write: config.json with quantization_config, model.safetensors, the tokenizer. */
  readonly out: string;
}

export interface QuantizeModelReport {
  readonly modelDir: string;
  readonly out: string;
  readonly family: string;
  readonly parameters: number;
  readonly config: QuantizationConfig;
  /** Linear/Embedding modules quantized (state_dict prefixes). */
  readonly quantized: readonly string[];
  /** Bytes of the weight files before and after. */
  readonly bytesBefore: number;
  readonly bytesAfter: number;
}

/**
 * Quantizes a float model folder (round to nearest, no calibration data) and writes a
 * self-describing quantized folder that `CausalLM.fromPretrained` and every backend load.
 */
export async function quantizeModel(options: QuantizeModelOptions): Promise<QuantizeModelReport> {
  const { copyFile, readdir, stat } = await import("node:fs/promises");
  const { join, resolve } = await import("node:path");
  const modelDir = await resolveModelDir(options.model);
  if (resolve(modelDir) === resolve(options.out)) throw new DenseSSMError(`--out ${options.out} is the model folder itself; write the quantized model to a new folder`);
  const lm = await CausalLM.fromPretrained(modelDir);
  if (lm.quantization) throw new DenseSSMError(`${modelDir} is already quantized to ${lm.quantization.bits} bits; quantize its float model instead`);
  const config = lm.quantize(options);
  await lm.save(options.out);
  const present = new Set(await readdir(modelDir));
  for (const file of COMPANION_FILES) if (present.has(file)) await copyFile(join(modelDir, file), join(options.out, file));
  const weightBytes = async (dir: string) => {
    const files = (await readdir(dir)).filter((f) => /^model.*\.safetensors(\.index\.json)?$/.test(f));
    return (await Promise.all(files.map((f) => stat(join(dir, f))))).reduce((n, s) => n + s.size, 0);
  };
  return {
    modelDir,
    out: options.out,
    family: lm.family,
    parameters: lm.numParameters(),
    config,
    quantized: quantizableModules(lm.module).map(([name]) => name).filter((name) => !config.keep.includes(name)),
    bytesBefore: await weightBytes(modelDir),
    bytesAfter: await weightBytes(options.out),
  };
}
