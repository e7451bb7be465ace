import { FormatError } from "../errors.js";
import { describeFile, readJsonObject, type FileSource } from "../io/file-source.js";
import { openCheckpoint, type Checkpoint, type ReadWeightsOptions } from "../io/weights.js";
import { parseQuantizationConfig } from "../quant/format.js";
import { prepareQuantized } from "../quant/modules.js";
import { formatShape, sameShape } from "../tensor/shape.js";
import { CausalLM, type CausalLMOptions } from "./causal-lm.js";
import { createFamilyModel, detectModelFamily, type FamilyModel, type LoadStateDictOptions } from "./family.js";

export interface LoadOptions extends CausalLMOptions, LoadStateDictOptions, ReadWeightsOptions {
  /** config.json keys to replace before the model is built (snake_case, as in the file). */
  config?: Readonly<Record<string, unknown>>;
}

/** Reads and parses config.json: the one place a model's config is read. */
export async function readModelConfig(source: FileSource): Promise<Record<string, unknown>> {
  const config = await readJsonObject(source, "config.json");
  if (!config) throw new FormatError(`${source.location}: no config.json (a model folder needs config.json and model.safetensors or pytorch_model.bin)`);
  return config;
}

/**
 * Loads a model from any file source: config.json names the family (whichever registered family
 * recognises it), the family parses it, the checkpoint's headers are checked against the model
 * before any weight is read, and the weights then load by their official names, one storage at a
 * time, into a model built without initialisation.
 */
export async function loadCausalLM(source: FileSource, options: LoadOptions = {}): Promise<CausalLM> {
  const json = { ...(await readModelConfig(source)), ...options.config };
  const where = describeFile(source, "config.json");
  const family = detectModelFamily(json, where);
  const config = inFile(where, () => family.fromConfig(json));
  const checkpoint = await openCheckpoint(source);
  // Parameters that may stay missing keep freshly initialised values; otherwise every value comes from the file.
  const model = inFile(where, () => createFamilyModel(family, config, { initialize: Boolean(options.keepMissing) }));
  // A quantized folder (quantization_config) stores codes and scales for its Linear/Embedding weights.
  if (json.quantization_config !== undefined) prepareQuantized(model.module, parseQuantizationConfig(json.quantization_config, where), where);
  checkHeaders(model, checkpoint, where);
  const lm = new CausalLM(model, options);
  const tensors = await checkpoint.read(options);
  try {
    lm.loadStateDict(tensors, options);
  } catch (e) {
    if (e instanceof FormatError) throw new FormatError(`${checkpoint.where}: ${e.message}`);
    throw e;
  }
  return lm;
}

/** Runs `parse`, naming `where` in its FormatErrors (whose "config: " prefix it replaces). */
function inFile<T>(where: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof FormatError) throw new FormatError(`${where}: ${e.message.replace(/^config: /, "")}`);
    throw e;
  }
}

/**
 * Compares the shapes the config implies with the checkpoint's headers for every tensor both
 * name, before a byte of weights is read: a config that does not belong to the weights fails at
 * once. (Names only one side has — renamed layouts, buffers — are the family's loadStateDict's.)
 */
function checkHeaders(model: FamilyModel, checkpoint: Checkpoint, configWhere: string): void {
  const problems: string[] = [];
  for (const [name, p] of model.module.allNamedParameters()) {
    const header = checkpoint.tensors.get(name);
    if (header && !sameShape(header.shape, p.shape)) problems.push(`"${name}" is ${formatShape(header.shape)} in the weights, ${formatShape(p.shape)} by the config`);
  }
  if (problems.length === 0) return;
  const shown = problems.slice(0, 20).join("\n  ");
  throw new FormatError(`${configWhere} does not fit ${checkpoint.where}:\n  ${shown}${problems.length > 20 ? `\n  ... and ${problems.length - 20} more` : ""}`);
}
