import { FormatError } from "../errors.js";
import type { Tensor } from "../tensor/tensor.js";
import { parseSafetensors, serializeSafetensors, type SafetensorsFile } from "./safetensors.js";

// File helpers for Node. They import node:fs lazily so the rest of core stays browser-safe.

async function fs() {
  return import("node:fs/promises");
}
async function pathModule() {
  return import("node:path");
}

/**
 * Writes a file atomically: to a temporary sibling first, flushed, then renamed over the target, so
 * a crash leaves either the old file or the new one, never half of one.
 */
export async function writeFileAtomic(file: string, data: Uint8Array | string): Promise<void> {
  const { open, rename, rm } = await fs();
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  const handle = await open(tmp, "w");
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

export async function readSafetensors(file: string): Promise<SafetensorsFile> {
  const { readFile } = await fs();
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (e) {
    throw new FormatError(`cannot read ${file}: ${(e as Error).message}`);
  }
  return parseSafetensors(bytes, file);
}

export async function writeSafetensors(file: string, tensors: Iterable<readonly [string, Tensor]>, metadata?: Record<string, string>): Promise<void> {
  await writeFileAtomic(file, serializeSafetensors(tensors, metadata));
}

/**
 * Loads every tensor of a Hugging Face style folder: `model.safetensors`, or the shards listed by
 * `model.safetensors.index.json` (its weight_map is checked against what each shard holds).
 */
export async function readSafetensorsFolder(dir: string): Promise<Map<string, Tensor>> {
  const { readFile, access } = await fs();
  const { join } = await pathModule();
  const index = join(dir, "model.safetensors.index.json");
  const single = join(dir, "model.safetensors");
  const exists = (p: string) => access(p).then(() => true, () => false);
  if (await exists(index)) {
    let weightMap: Record<string, string>;
    try {
      weightMap = (JSON.parse(await readFile(index, "utf8")) as { weight_map: Record<string, string> }).weight_map;
      if (!weightMap || typeof weightMap !== "object") throw new Error("no weight_map object");
    } catch (e) {
      throw new FormatError(`${index}: not a valid safetensors index (${(e as Error).message})`);
    }
    const out = new Map<string, Tensor>();
    for (const shard of new Set(Object.values(weightMap))) {
      const { tensors } = await readSafetensors(join(dir, shard));
      for (const [name, t] of tensors) {
        if (weightMap[name] !== shard) throw new FormatError(`${index}: tensor "${name}" is in ${shard} but the weight_map says ${weightMap[name] ?? "nothing"}`);
        out.set(name, t);
      }
    }
    const missing = Object.keys(weightMap).filter((n) => !out.has(n));
    if (missing.length) throw new FormatError(`${index}: tensors listed in weight_map but absent from their shard: ${missing.join(", ")}`);
    return out;
  }
  if (await exists(single)) return (await readSafetensors(single)).tensors;
  throw new FormatError(`${dir}: no model.safetensors or model.safetensors.index.json`);
}

/**
 * Writes tensors as `model.safetensors`, or as shards of at most `maxShardBytes` with an index
 * when they do not fit in one.
 */
export async function writeSafetensorsFolder(dir: string, tensors: ReadonlyMap<string, Tensor>, options: { maxShardBytes?: number; metadata?: Record<string, string> } = {}): Promise<void> {
  const { mkdir } = await fs();
  const { join } = await pathModule();
  await mkdir(dir, { recursive: true });
  const max = options.maxShardBytes ?? 4 * 1024 ** 3;
  const shards: [string, Tensor][][] = [[]];
  let size = 0;
  for (const entry of tensors) {
    const bytes = entry[1].data.byteLength;
    if (size + bytes > max && shards[shards.length - 1]!.length) {
      shards.push([]);
      size = 0;
    }
    shards[shards.length - 1]!.push(entry);
    size += bytes;
  }
  const metadata = { format: "pt", ...options.metadata };
  if (shards.length === 1) return writeSafetensors(join(dir, "model.safetensors"), shards[0]!, metadata);
  const weightMap: Record<string, string> = {};
  let total = 0;
  for (const [i, shard] of shards.entries()) {
    const name = `model-${String(i + 1).padStart(5, "0")}-of-${String(shards.length).padStart(5, "0")}.safetensors`;
    await writeSafetensors(join(dir, name), shard, metadata);
    for (const [tensorName, t] of shard) {
      weightMap[tensorName] = name;
      total += t.data.byteLength;
    }
  }
  await writeFileAtomic(join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2));
}
