import { FormatError } from "../errors.js";
import { byteSize, type DType } from "../tensor/dtype.js";
import { formatShape } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { tensorBytes, type PendingTensor } from "./tensor-stream.js";

// The safetensors format: an 8-byte little-endian header length N, N bytes of JSON mapping tensor
// names to {dtype, shape, data_offsets: [begin, end]} (offsets relative to the byte after the
// header) plus an optional "__metadata__" string map, then the raw little-endian data.

const FILE_DTYPES: Record<string, { dtype: DType; bytes: number } | undefined> = {
  F32: { dtype: "float32", bytes: 4 },
  F16: { dtype: "float16", bytes: 2 },
  BF16: { dtype: "bfloat16", bytes: 2 },
  I32: { dtype: "int32", bytes: 4 },
  I8: { dtype: "int8", bytes: 1 },
  U8: { dtype: "uint8", bytes: 1 },
  I64: { dtype: "int32", bytes: 8 }, // read into int32, with a range check
};

const CODE_OF: Record<DType, string> = { float32: "F32", float16: "F16", bfloat16: "BF16", int32: "I32", int8: "I8", uint8: "U8" };

export interface SafetensorsFile {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

/** One tensor of a safetensors header: where its bytes lie (relative to the data section). */
export interface SafetensorsEntry {
  readonly name: string;
  /** The file's dtype code: F32, F16, BF16, I32 or I64. */
  readonly code: string;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
}

/** A validated safetensors header: every entry is in bounds and no two overlap. */
export interface SafetensorsHeader {
  readonly entries: readonly SafetensorsEntry[];
  readonly metadata: Record<string, string>;
  /** Byte offset of the data section in the file (8 + header length). */
  readonly dataStart: number;
}

/** The largest header we read (the reference implementation's limit too). */
export const MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024;

/** The header length in the first 8 bytes, checked against the cap and the file size. */
export function safetensorsHeaderLength(first8: Uint8Array, fileSize: number, source: string): number {
  if (fileSize < 8 || first8.length < 8) throw new FormatError(`${source}: ${fileSize} bytes is too short for a safetensors file`);
  const headerLen = Number(new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true));
  if (headerLen > MAX_SAFETENSORS_HEADER) throw new FormatError(`${source}: header length ${headerLen} is over the ${MAX_SAFETENSORS_HEADER}-byte limit (not a safetensors file, or a hostile one)`);
  if (8 + headerLen > fileSize) throw new FormatError(`${source}: header length ${headerLen} does not fit in a file of ${fileSize} bytes (truncated or not safetensors)`);
  return headerLen;
}

/**
 * Parses and validates a whole header before any tensor is touched: dtypes, shapes, offsets inside
 * the `fileSize - 8 - header` data bytes, sizes matching dtype × shape, and no two tensors sharing
 * a byte (ranges sorted, zero-length tensors included in the bounds check but unable to hide an
 * overlap). Every problem names the file and the tensor.
 */
export function parseSafetensorsHeader(headerBytes: Uint8Array, fileSize: number, source = "safetensors"): SafetensorsHeader {
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(headerBytes));
  } catch (e) {
    throw new FormatError(`${source}: header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (!header || typeof header !== "object" || Array.isArray(header)) throw new FormatError(`${source}: header must be a JSON object`);
  const dataStart = 8 + headerBytes.length;
  const dataLen = fileSize - dataStart;
  const metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (entry === null) continue;
      if (typeof entry !== "object" || Array.isArray(entry)) throw new FormatError(`${source}: __metadata__ must be an object of strings`);
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        // The format allows strings only; anything else (a 10,000-deep array, say) is refused unread.
        if (typeof v !== "string") throw new FormatError(`${source}: __metadata__ "${k}" must be a string, got ${Array.isArray(v) ? "an array" : v === null ? "null" : typeof v}`);
        metadata[k] = v;
      }
      continue;
    }
    const e = (entry ?? {}) as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const spec = typeof e.dtype === "string" ? FILE_DTYPES[e.dtype] : undefined;
    if (!spec) throw new FormatError(`${source}: tensor "${name}" has unsupported dtype ${typeof e.dtype === "string" ? JSON.stringify(e.dtype) : typeof e.dtype} (supported: ${Object.keys(FILE_DTYPES).join(", ")})`);
    const shape = e.shape;
    if (!Array.isArray(shape) || shape.length > 16 || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new FormatError(`${source}: tensor "${name}" has an invalid shape ${Array.isArray(shape) && shape.length <= 16 ? JSON.stringify(shape) : "(not a short array of sizes)"}`);
    const offsets = e.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw new FormatError(`${source}: tensor "${name}" has invalid data_offsets ${Array.isArray(offsets) && offsets.length <= 2 ? JSON.stringify(offsets) : "(not two offsets)"}`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end || end > dataLen) throw new FormatError(`${source}: tensor "${name}" data [${begin}, ${end}) lies outside the ${dataLen} data bytes (truncated file?)`);
    const bytes = byteCount(shape as number[], spec.bytes, dataLen);
    if (end - begin !== bytes) throw new FormatError(`${source}: tensor "${name}" ${e.dtype as string}${formatShape(shape as number[])} needs ${bytes > dataLen ? `more than the file's ${dataLen} data bytes` : `${bytes} bytes`}, its data_offsets span ${end - begin}`);
    entries.push({ name, code: e.dtype as string, shape: shape as number[], begin, end });
  }
  const sorted = entries.filter((t) => t.end > t.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.begin < sorted[i - 1]!.end) throw new FormatError(`${source}: tensors "${sorted[i - 1]!.name}" and "${sorted[i]!.name}" overlap`);
  }
  return { entries, metadata, dataStart };
}

/** Bytes of a tensor, or a number above `cap` as soon as the product passes it (no overflow). */
function byteCount(shape: readonly number[], elementBytes: number, cap: number): number {
  let n = elementBytes;
  for (const d of shape) {
    n *= d;
    if (n > cap) return d === 0 ? 0 : cap + 1;
  }
  return n;
}

/**
 * Parses a safetensors buffer. The whole header is validated (see parseSafetensorsHeader) before
 * any tensor is copied; every problem names the file (`source`) and the tensor.
 */
export function parseSafetensors(bytes: Uint8Array, source = "safetensors"): SafetensorsFile {
  const headerLen = safetensorsHeaderLength(bytes, bytes.length, source);
  const { entries, metadata, dataStart } = parseSafetensorsHeader(bytes.subarray(8, 8 + headerLen), bytes.length, source);
  const tensors = new Map<string, Tensor>();
  for (const e of entries) tensors.set(e.name, decodeSafetensor(bytes.subarray(dataStart + e.begin, dataStart + e.end), e, `${source}: tensor "${e.name}"`));
  return { tensors, metadata };
}

/**
 * A tensor from its raw little-endian bytes. Bytes that fill a buffer of their own (a fresh ranged
 * read) become the tensor's storage as they are; anything else is copied, so the tensor is aligned
 * and never keeps a whole file alive.
 */
export function decodeSafetensor(raw: Uint8Array, entry: Pick<SafetensorsEntry, "code" | "shape">, what: string): Tensor {
  const owned = raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength ? raw : new Uint8Array(raw);
  const { shape } = entry;
  switch (entry.code) {
    case "F32":
      return new Tensor(new Float32Array(owned.buffer, 0, owned.length / 4), shape, "float32");
    case "F16":
      return new Tensor(new Uint16Array(owned.buffer, 0, owned.length / 2), shape, "float16");
    case "BF16":
      return new Tensor(new Uint16Array(owned.buffer, 0, owned.length / 2), shape, "bfloat16");
    case "I32":
      return new Tensor(new Int32Array(owned.buffer, 0, owned.length / 4), shape, "int32");
    case "I8":
      return new Tensor(new Int8Array(owned.buffer, 0, owned.length), shape, "int8");
    case "U8":
      return new Tensor(new Uint8Array(owned.buffer, 0, owned.length), shape, "uint8");
    default:
      return new Tensor(narrowInt64(new BigInt64Array(owned.buffer, 0, owned.length / 8), what), shape, "int32");
  }
}

/** int64 values as int32, each checked to fit. */
export function narrowInt64(wide: BigInt64Array, what: string): Int32Array {
  const out = new Int32Array(wide.length);
  for (let i = 0; i < wide.length; i++) {
    const v = wide[i]!;
    if (v > 2147483647n || v < -2147483648n) throw new FormatError(`${what}: I64 value ${v} at index ${i} does not fit in int32`);
    out[i] = Number(v);
  }
  return out;
}

/** The header of a safetensors file holding `tensors` in this order (padded so the data is 8-byte aligned). */
export function safetensorsHeader(tensors: readonly Pick<PendingTensor, "name" | "dtype" | "shape">[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const { name, dtype, shape } of tensors) {
    if (name === "__metadata__" || name in header) throw new FormatError(`safetensors: duplicate or reserved tensor name "${name}"`);
    const bytes = shape.reduce((a, b) => a * b, byteSize(dtype));
    header[name] = { dtype: CODE_OF[dtype], shape: [...shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = new Uint8Array(8 + Math.ceil(json.length / 8) * 8).fill(0x20); // pad with spaces
  new DataView(padded.buffer).setBigUint64(0, BigInt(padded.length - 8), true);
  padded.set(json, 8);
  return padded;
}

/** Serializes tensors (in the given order) with optional string metadata. */
export function serializeSafetensors(tensors: Iterable<readonly [string, Tensor]>, metadata?: Record<string, string>): Uint8Array {
  const list = [...tensors];
  const header = safetensorsHeader(list.map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape })), metadata);
  const out = new Uint8Array(header.length + list.reduce((n, [, t]) => n + t.data.byteLength, 0));
  out.set(header);
  let pos = header.length;
  for (const [, t] of list) {
    out.set(tensorBytes(t), pos);
    pos += t.data.byteLength;
  }
  return out;
}
