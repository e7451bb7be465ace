import { FormatError } from "../errors.js";
import { describeFile, readJsonObject, type FileSource } from "../io/file-source.js";
import { readWeights } from "../io/weights.js";
import { parseQuantizationConfig } from "../quant/format.js";
import { CausalLM, type CausalLMOptions } from "./causal-lm.js";
import { detectModelFamily, type LoadStateDictOptions } from "./family.js";

export interface LoadOptions extends CausalLMOptions, LoadStateDictOptions {
  /** config.json keys to replace before the model is built (snake_case, as in the file). */
  config?: Readonly<Record<string, unknown>>;
}

/** Reads and parses config.json: the one place a model's config is read. */
export async function readModelConfig(source: FileSource): Promise<Record<string, unknown>> {
  const config = await readJsonObject(source, "config.json");
  if (!config) throw new FormatError(`${source.location}: no config.json (a model folder needs config.json and model.safetensors)`);
  return config;
}

/**
 * Loads a model from any file source: config.json names the family (whichever registered family
 * recognises it), the family parses it, and the weights load by their official names.
 */
export async function loadCausalLM(source: FileSource, options: LoadOptions = {}): Promise<CausalLM> {
  const json = { ...(await readModelConfig(source)), ...options.config };
  const where = describeFile(source, "config.json");
  const family = detectModelFamily(json, where);
  let config;
  try {
    config = family.fromConfig(json);
  } catch (e) {
    if (e instanceof FormatError) throw new FormatError(`${where}: ${e.message.replace(/^config: /, "")}`);
    throw e;
  }
  const quantization = json.quantization_config === undefined ? undefined : parseQuantizationConfig(json.quantization_config, where);
  const lm = new CausalLM(family.create(config), options);
  lm.loadStateDict(await readWeights(source), { ...options, quantization });
  return lm;
}
