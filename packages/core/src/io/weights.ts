import { FormatError } from "../errors.js";
import type { Tensor } from "../tensor/tensor.js";
import { describeFile, readJsonObject, type FileSource } from "./file-source.js";
import { parseSafetensors } from "./safetensors.js";

export const SAFETENSORS = "model.safetensors";
export const SAFETENSORS_INDEX = "model.safetensors.index.json";

/**
 * Every weight of a Hugging Face style model folder: `model.safetensors`, or the shards that
 * `model.safetensors.index.json` lists (its weight_map is checked against what each shard holds).
 * Only the model's own files are read (a training checkpoint also holds optimizer.safetensors).
 */
export async function readWeights(source: FileSource): Promise<Map<string, Tensor>> {
  const index = await readJsonObject(source, SAFETENSORS_INDEX);
  if (index) return readShards(source, index);
  const single = await source.read(SAFETENSORS);
  if (single) return parseSafetensors(single, describeFile(source, SAFETENSORS)).tensors;
  throw new FormatError(`${source.location}: no ${SAFETENSORS} or ${SAFETENSORS_INDEX}`);
}

async function readShards(source: FileSource, index: Record<string, unknown>): Promise<Map<string, Tensor>> {
  const where = describeFile(source, SAFETENSORS_INDEX);
  const weightMap = index.weight_map;
  if (typeof weightMap !== "object" || weightMap === null || Array.isArray(weightMap)) throw new FormatError(`${where}: not a valid safetensors index (no weight_map object)`);
  const map = weightMap as Record<string, unknown>;
  const out = new Map<string, Tensor>();
  for (const shard of [...new Set(Object.values(map).map(String))].sort()) {
    if (shard.includes("/") || shard.includes("\\") || shard.startsWith(".")) throw new FormatError(`${where}: shard name ${JSON.stringify(shard)} is not a plain file name`);
    const bytes = await source.read(shard);
    if (!bytes) throw new FormatError(`${where}: lists ${shard}, which ${source.location} does not have`);
    for (const [name, t] of parseSafetensors(bytes, describeFile(source, shard)).tensors) {
      if (map[name] !== shard) throw new FormatError(`${where}: tensor "${name}" is in ${shard} but the weight_map says ${String(map[name] ?? "nothing")}`);
      out.set(name, t);
    }
  }
  const missing = Object.keys(map).filter((n) => !out.has(n));
  if (missing.length) throw new FormatError(`${where}: tensors listed in weight_map but absent from their shard: ${missing.join(", ")}`);
  return out;
}
