import { FormatError } from "../errors.js";
import { isFloat } from "../tensor/dtype.js";
import { formatShape } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";
import { describeFile, readJsonObject, type FileSource } from "./file-source.js";
import { openFile, type RandomAccessFile } from "./random-access.js";
import { decodeSafetensor, parseSafetensorsHeader, safetensorsHeaderLength } from "./safetensors.js";
import { openTorchCheckpoint } from "./torch/checkpoint.js";

export const SAFETENSORS = "model.safetensors";
export const SAFETENSORS_INDEX = "model.safetensors.index.json";
export const PYTORCH_BIN = "pytorch_model.bin";
export const PYTORCH_BIN_INDEX = "pytorch_model.bin.index.json";

/** The weight files a model folder may have, in the order they are looked for. */
export const WEIGHT_FILES: readonly string[] = [SAFETENSORS_INDEX, SAFETENSORS, PYTORCH_BIN_INDEX, PYTORCH_BIN];

/** A tensor as a checkpoint's header describes it, before its data is read. */
export interface WeightHeader {
  readonly name: string;
  /** The file's element type: F32, F16, BF16, I32, I64 or BOOL. */
  readonly code: string;
  readonly shape: readonly number[];
  /** The file that holds it (`location/name`). */
  readonly file: string;
}

export interface ReadWeightsOptions {
  /** Load tensors holding NaN or ±Inf instead of refusing them (default false). */
  readonly allowNonFinite?: boolean;
}

/** A model folder's checkpoint with every header read and checked, and no tensor data read yet. */
export interface Checkpoint {
  /** "safetensors" or "pytorch" (pytorch_model.bin). */
  readonly format: "safetensors" | "pytorch";
  /** The file (or index) the weights come from, for messages. */
  readonly where: string;
  readonly tensors: ReadonlyMap<string, WeightHeader>;
  /**
   * Reads every tensor, one file and one storage at a time, so what is held besides the result is
   * at most one storage. Floating-point tensors are checked for NaN and ±Inf.
   */
  read(options?: ReadWeightsOptions): Promise<Map<string, Tensor>>;
}

interface WeightFile {
  readonly headers: readonly WeightHeader[];
  read(emit: (name: string, tensor: Tensor) => void): Promise<void>;
}

/**
 * Opens the weights of a Hugging Face style model folder: `model.safetensors` or the shards of
 * `model.safetensors.index.json`, else `pytorch_model.bin` or the shards of
 * `pytorch_model.bin.index.json` (an index's weight_map is checked against each shard's header).
 * Only the model's own files are read (a training checkpoint also holds optimizer.safetensors).
 */
export async function openCheckpoint(source: FileSource): Promise<Checkpoint> {
  for (const [index, single, format] of [[SAFETENSORS_INDEX, SAFETENSORS, "safetensors"], [PYTORCH_BIN_INDEX, PYTORCH_BIN, "pytorch"]] as const) {
    const json = await readJsonObject(source, index);
    if (json) return checkpoint(format, describeFile(source, index), await openShards(source, index, json, format));
    const file = await openFile(source, single);
    if (file) return checkpoint(format, file.where, [await openWeightFile(file, format)]);
  }
  throw new FormatError(`${source.location}: no weights (looked for ${WEIGHT_FILES.join(", ")})`);
}

/** Every weight of a model folder (see `openCheckpoint`). */
export async function readWeights(source: FileSource, options: ReadWeightsOptions = {}): Promise<Map<string, Tensor>> {
  return (await openCheckpoint(source)).read(options);
}

function checkpoint(format: Checkpoint["format"], where: string, files: readonly WeightFile[]): Checkpoint {
  const tensors = new Map<string, WeightHeader>();
  for (const file of files) {
    for (const h of file.headers) {
      const other = tensors.get(h.name);
      if (other) throw new FormatError(`${where}: tensor "${h.name}" is in both ${other.file} and ${h.file}`);
      tensors.set(h.name, h);
    }
  }
  return {
    format,
    where,
    tensors,
    async read(options = {}) {
      const out = new Map<string, Tensor>();
      for (const file of files) {
        await file.read((name, t) => {
          if (!options.allowNonFinite) checkFinite(t, `${tensors.get(name)!.file}: tensor "${name}"`);
          out.set(name, t);
        });
      }
      return out;
    },
  };
}

async function openWeightFile(file: RandomAccessFile, format: Checkpoint["format"]): Promise<WeightFile> {
  if (format === "pytorch") {
    const torch = await openTorchCheckpoint(file);
    return { headers: torch.tensors.map((t) => ({ ...t, file: file.where })), read: (emit) => torch.read(emit) };
  }
  const headerLen = safetensorsHeaderLength(await file.read(0, Math.min(8, file.size)), file.size, file.where);
  const { entries, dataStart } = parseSafetensorsHeader(await file.read(8, headerLen), file.size, file.where);
  return {
    headers: entries.map((e) => ({ name: e.name, code: e.code, shape: e.shape, file: file.where })),
    async read(emit) {
      for (const e of [...entries].sort((a, b) => a.begin - b.begin)) emit(e.name, decodeSafetensor(await file.read(dataStart + e.begin, e.end - e.begin), e, `${file.where}: tensor "${e.name}"`));
    },
  };
}

async function openShards(source: FileSource, indexName: string, index: Record<string, unknown>, format: Checkpoint["format"]): Promise<WeightFile[]> {
  const where = describeFile(source, indexName);
  const weightMap = index.weight_map;
  if (typeof weightMap !== "object" || weightMap === null || Array.isArray(weightMap)) throw new FormatError(`${where}: not a valid index (no weight_map object)`);
  const map = weightMap as Record<string, unknown>;
  const files: WeightFile[] = [];
  const seen = new Set<string>();
  for (const shard of [...new Set(Object.values(map).map(String))].sort()) {
    if (shard.includes("/") || shard.includes("\\") || shard.startsWith(".")) throw new FormatError(`${where}: shard name ${JSON.stringify(shard)} is not a plain file name`);
    const file = await openFile(source, shard);
    if (!file) throw new FormatError(`${where}: lists ${shard}, which ${source.location} does not have`);
    const opened = await openWeightFile(file, format);
    for (const h of opened.headers) {
      if (map[h.name] !== shard) throw new FormatError(`${where}: tensor "${h.name}" is in ${shard} but the weight_map says ${String(map[h.name] ?? "nothing")}`);
      seen.add(h.name);
    }
    files.push(opened);
  }
  const missing = Object.keys(map).filter((n) => !seen.has(n));
  if (missing.length) throw new FormatError(`${where}: tensors listed in weight_map but absent from their shard: ${missing.slice(0, 20).join(", ")}${missing.length > 20 ? ` and ${missing.length - 20} more` : ""}`);
  return files;
}

/** Refuses a floating-point tensor holding NaN or ±Inf, naming it, the count and the first one. */
export function checkFinite(t: Tensor, what: string): void {
  if (!isFloat(t.dtype)) return; // ids and quantized codes are integers: always finite
  const d = t.data;
  const mask = t.dtype === "float16" ? 0x7c00 : 0x7f80; // half formats: all exponent bits set is Inf or NaN
  const finite = t.dtype === "float32" ? (i: number) => Number.isFinite(d[i]!) : (i: number) => (d[i]! & mask) !== mask;
  let bad = 0;
  let first = -1;
  for (let i = 0; i < d.length; i++) {
    if (finite(i)) continue;
    if (bad++ === 0) first = i;
  }
  if (bad) throw new FormatError(`${what} ${formatShape(t.shape)} holds ${bad} non-finite value${bad > 1 ? "s" : ""} (the first, at index ${first}, is ${t.get(first)}); the weights are corrupt or overflowed (load anyway with allowNonFinite / --allow-nonfinite)`);
}
