import { FormatError } from "../errors.js";
import type { Tensor } from "../tensor/tensor.js";
import { folderSource } from "./file-source.js";
import { parseSafetensors, serializeSafetensors, type SafetensorsFile } from "./safetensors.js";
import { readWeights } from "./weights.js";

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

/** Every weight of a model folder on disk: see `readWeights`. */
export async function readSafetensorsFolder(dir: string): Promise<Map<string, Tensor>> {
  return readWeights(folderSource(dir));
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
