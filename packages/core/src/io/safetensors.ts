import { FormatError } from "../errors.js";
import type { DType } from "../tensor/dtype.js";
import { formatShape, numel } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";

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

const MAX_HEADER = 100 * 1024 * 1024;

/**
 * Parses a safetensors buffer. Every offset is bounds-checked, tensors may not overlap, and every
 * problem names the file (`source`) and the tensor.
 */
export function parseSafetensors(bytes: Uint8Array, source = "safetensors"): SafetensorsFile {
  if (bytes.length < 8) throw new FormatError(`${source}: ${bytes.length} bytes is too short for a safetensors file`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > MAX_HEADER || 8 + headerLen > bytes.length) {
    throw new FormatError(`${source}: header length ${headerLen} does not fit in a file of ${bytes.length} bytes (truncated or not safetensors)`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + headerLen))) as Record<string, unknown>;
  } catch (e) {
    throw new FormatError(`${source}: header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (!header || typeof header !== "object" || Array.isArray(header)) throw new FormatError(`${source}: header must be a JSON object`);

  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  const tensors = new Map<string, Tensor>();
  const metadata: Record<string, string> = {};
  const ranges: [number, number, string][] = [];

  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      for (const [k, v] of Object.entries((entry ?? {}) as Record<string, unknown>)) metadata[k] = String(v);
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const spec = FILE_DTYPES[String(e?.dtype)];
    if (!spec) throw new FormatError(`${source}: tensor "${name}" has unsupported dtype ${JSON.stringify(e?.dtype)} (supported: ${Object.keys(FILE_DTYPES).join(", ")})`);
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) throw new FormatError(`${source}: tensor "${name}" has an invalid shape ${JSON.stringify(shape)}`);
    const offsets = e.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0)) {
      throw new FormatError(`${source}: tensor "${name}" has invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end || end > dataLen) throw new FormatError(`${source}: tensor "${name}" data [${begin}, ${end}) lies outside the ${dataLen} data bytes (truncated file?)`);
    const expected = numel(shape) * spec.bytes;
    if (end - begin !== expected) throw new FormatError(`${source}: tensor "${name}" ${String(e.dtype)}${formatShape(shape)} needs ${expected} bytes, its data_offsets span ${end - begin}`);
    ranges.push([begin, end, name]);
    tensors.set(name, decode(bytes.subarray(dataStart + begin, dataStart + end), String(e.dtype), shape, `${source}: tensor "${name}"`));
  }
  ranges.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < ranges.length; i++) {
    const [, prevEnd, prevName] = ranges[i - 1]!;
    const [begin, end, name] = ranges[i]!;
    if (end > begin && begin < prevEnd) throw new FormatError(`${source}: tensors "${prevName}" and "${name}" overlap`);
  }
  return { tensors, metadata };
}

function decode(raw: Uint8Array, code: string, shape: number[], what: string): Tensor {
  // A fresh copy is aligned and detached from the file buffer (Node's Buffer#slice would not copy).
  const copy = new Uint8Array(raw);
  switch (code) {
    case "F32":
      return new Tensor(new Float32Array(copy.buffer), shape, "float32");
    case "F16":
      return new Tensor(new Uint16Array(copy.buffer), shape, "float16");
    case "BF16":
      return new Tensor(new Uint16Array(copy.buffer), shape, "bfloat16");
    case "I32":
      return new Tensor(new Int32Array(copy.buffer), shape, "int32");
    case "I8":
      return new Tensor(new Int8Array(copy.buffer), shape, "int8");
    case "U8":
      return new Tensor(copy, shape, "uint8");
    default: {
      const wide = new BigInt64Array(copy.buffer);
      const out = new Int32Array(wide.length);
      for (let i = 0; i < wide.length; i++) {
        const v = wide[i]!;
        if (v > 2147483647n || v < -2147483648n) throw new FormatError(`${what}: I64 value ${v} at index ${i} does not fit in int32`);
        out[i] = Number(v);
      }
      return new Tensor(out, shape, "int32");
    }
  }
}

/** Serializes tensors (in the given order) with optional string metadata. */
export function serializeSafetensors(tensors: Iterable<readonly [string, Tensor]>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    if (name === "__metadata__" || name in header) throw new FormatError(`safetensors: duplicate or reserved tensor name "${name}"`);
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    header[name] = { dtype: CODE_OF[t.dtype], shape: [...t.shape], data_offsets: [offset, offset + bytes.length] };
    parts.push(bytes);
    offset += bytes.length;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8; // keep the data 8-byte aligned, padding with spaces
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let pos = 8 + json.length;
  for (const part of parts) {
    out.set(part, pos);
    pos += part.length;
  }
  return out;
}
