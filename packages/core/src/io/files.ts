import { FormatError } from "../errors.js";
import type { Tensor } from "../tensor/tensor.js";
import { folderSource } from "./file-source.js";
import { byteSize } from "../tensor/dtype.js";
import { parseSafetensors, safetensorsHeader, type SafetensorsFile } from "./safetensors.js";
import { pendingTensors, tensorBytes, type PendingTensor } from "./tensor-stream.js";
import { writeTorchCheckpointTo, type ByteSink } from "./torch/write.js";
import { readWeights, SAFETENSORS, SAFETENSORS_INDEX } from "./weights.js";

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
  await writeFileAtomicStream(file, (sink) => sink.write(typeof data === "string" ? new TextEncoder().encode(data) : data));
}

/** Like writeFileAtomic, for a file written piece by piece (`produce` calls `sink.write` in order). */
export async function writeFileAtomicStream(file: string, produce: (sink: ByteSink) => Promise<void>): Promise<void> {
  const { open, rename, rm } = await fs();
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  const handle = await open(tmp, "w");
  try {
    await produce({
      async write(bytes) {
        for (let done = 0; done < bytes.length; ) done += (await handle.write(bytes, done, bytes.length - done)).bytesWritten;
      },
    });
    await handle.sync();
    await handle.close();
    await rename(tmp, file);
  } catch (e) {
    await handle.close().catch(() => {});
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

/** Writes a safetensors file, one tensor at a time (tensors may be PendingTensors produced on demand). */
export async function writeSafetensors(file: string, tensors: Iterable<readonly [string, Tensor]> | readonly PendingTensor[], metadata?: Record<string, string>): Promise<void> {
  const pending = asPending(tensors);
  await writeFileAtomicStream(file, async (sink) => {
    await sink.write(safetensorsHeader(pending, metadata));
    for (const t of pending) await sink.write(tensorBytes(checkedValues(t, await t.values())));
  });
}

/** Writes a torch checkpoint (pytorch_model.bin) that torch.load reads, one storage at a time; tied tensors share a storage. */
export async function writeTorchCheckpoint(file: string, tensors: Iterable<readonly [string, Tensor]> | readonly PendingTensor[]): Promise<void> {
  const pending = asPending(tensors);
  await writeFileAtomicStream(file, (sink) => writeTorchCheckpointTo(sink, pending));
}

/** A PendingTensor's values, which must be what its header declared (the header is already written). */
function checkedValues(t: PendingTensor, values: Tensor): Tensor {
  if (values.dtype !== t.dtype || values.shape.join() !== t.shape.join()) throw new FormatError(`${t.name}: declared ${t.dtype}[${t.shape.join(", ")}] but produced ${values.dtype}[${values.shape.join(", ")}]`);
  return values;
}

function asPending(tensors: Iterable<readonly [string, Tensor]> | readonly PendingTensor[]): readonly PendingTensor[] {
  const list = [...tensors];
  return list.every((t) => !Array.isArray(t)) ? (list as PendingTensor[]) : pendingTensors(list as [string, Tensor][]);
}

/** Every weight of a model folder on disk: see `readWeights`. */
export async function readSafetensorsFolder(dir: string): Promise<Map<string, Tensor>> {
  return readWeights(folderSource(dir));
}

/**
 * Writes tensors as `model.safetensors`, or as shards of at most `maxShardBytes` with an index
 * when they do not fit in one; one tensor is held at a time when they are PendingTensors.
 */
export async function writeSafetensorsFolder(dir: string, tensors: ReadonlyMap<string, Tensor> | readonly PendingTensor[], options: { maxShardBytes?: number; metadata?: Record<string, string> } = {}): Promise<string[]> {
  const { mkdir } = await fs();
  const { join } = await pathModule();
  await mkdir(dir, { recursive: true });
  const max = options.maxShardBytes ?? 4 * 1024 ** 3;
  const pending = asPending(tensors instanceof Map ? tensors : (tensors as readonly PendingTensor[]));
  const shards: PendingTensor[][] = [[]];
  let size = 0;
  for (const t of pending) {
    const bytes = t.shape.reduce((a, b) => a * b, byteSize(t.dtype));
    if (size + bytes > max && shards[shards.length - 1]!.length) {
      shards.push([]);
      size = 0;
    }
    shards[shards.length - 1]!.push(t);
    size += bytes;
  }
  const metadata = { format: "pt", ...options.metadata };
  if (shards.length === 1) {
    await writeSafetensors(join(dir, SAFETENSORS), shards[0]!, metadata);
    return [SAFETENSORS];
  }
  const weightMap: Record<string, string> = {};
  const names: string[] = [];
  let total = 0;
  for (const [i, shard] of shards.entries()) {
    const name = `model-${String(i + 1).padStart(5, "0")}-of-${String(shards.length).padStart(5, "0")}.safetensors`;
    await writeSafetensors(join(dir, name), shard, metadata);
    names.push(name);
    for (const t of shard) {
      weightMap[t.name] = name;
      total += t.shape.reduce((a, b) => a * b, byteSize(t.dtype));
    }
  }
  await writeFileAtomic(join(dir, SAFETENSORS_INDEX), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2));
  return [...names, SAFETENSORS_INDEX];
}
