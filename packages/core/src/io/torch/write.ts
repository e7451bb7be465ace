import { DTypeError, FormatError } from "../../errors.js";
import type { DType } from "../../tensor/dtype.js";
import { formatShape, numel, sameShape, stridesOf } from "../../tensor/shape.js";
import { tensorBytes, type PendingTensor } from "../tensor-stream.js";

// Writes a state dict the way torch.save does (zip format, pickle protocol 2), so torch.load —
// weights_only included — reads it: `archive/data.pkl` (an OrderedDict of _rebuild_tensor_v2
// calls on persistent storage ids), `archive/data/<key>` per storage (64-byte aligned, as torch
// aligns them), `archive/version`, and zip64 records once offsets pass 4 GiB.

const STORAGE_OF: Record<DType, string> = { float32: "FloatStorage", float16: "HalfStorage", bfloat16: "BFloat16Storage", int32: "IntStorage", int8: "CharStorage", uint8: "ByteStorage" };
const ARCHIVE = "archive";

/** Where bytes go: a file handle in Node (appending). */
export interface ByteSink {
  write(bytes: Uint8Array): Promise<void>;
}

/** Writes the tensors as a torch checkpoint to `sink`, one storage at a time; tied tensors share one storage. */
export async function writeTorchCheckpointTo(sink: ByteSink, tensors: readonly PendingTensor[]): Promise<void> {
  const keys = new Map<string, string>();
  const storages: PendingTensor[] = [];
  for (const t of tensors) {
    const target = t.sameAs ? tensors.find((o) => o.name === t.sameAs) : undefined;
    if (t.sameAs && (!target || target.sameAs || !sameShape(target.shape, t.shape) || target.dtype !== t.dtype)) throw new FormatError(`torch checkpoint: "${t.name}" is tied to "${t.sameAs}", which is not an untied tensor of the same shape and dtype`);
    if (target) keys.set(t.name, keys.get(target.name)!);
    else {
      keys.set(t.name, String(storages.length));
      storages.push(t);
    }
  }
  const zip = new ZipWriter(sink);
  await zip.add(`${ARCHIVE}/data.pkl`, statePickle(tensors, keys));
  for (const [i, t] of storages.entries()) {
    const values = await t.values();
    if (values.dtype !== t.dtype || !sameShape(values.shape, t.shape)) throw new DTypeError(`torch checkpoint: "${t.name}" was declared ${t.dtype}${formatShape(t.shape)} but is ${values.dtype}${formatShape(values.shape)}`);
    await zip.add(`${ARCHIVE}/data/${i}`, tensorBytes(values));
  }
  await zip.add(`${ARCHIVE}/version`, new TextEncoder().encode("3\n"));
  await zip.finish();
}

/** The pickle of an OrderedDict name → _rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict()). */
function statePickle(tensors: readonly PendingTensor[], keys: ReadonlyMap<string, string>): Uint8Array {
  const p = new PickleWriter();
  p.op(0x80, 2); // PROTO 2
  p.global("collections", "OrderedDict");
  p.op(0x29, 0x52); // EMPTY_TUPLE, REDUCE
  p.op(0x28); // MARK
  for (const t of tensors) {
    p.string(t.name);
    p.global("torch._utils", "_rebuild_tensor_v2");
    p.op(0x28); // MARK (arguments)
    p.op(0x28); // MARK (persistent id)
    p.string("storage");
    p.global("torch", STORAGE_OF[t.dtype]);
    p.string(keys.get(t.name)!);
    p.string("cpu");
    p.int(numel(t.shape));
    p.op(0x74, 0x51); // TUPLE, BINPERSID
    p.int(0);
    p.tuple(t.shape);
    p.tuple(stridesOf(t.shape));
    p.op(0x89); // NEWFALSE (requires_grad)
    p.global("collections", "OrderedDict");
    p.op(0x29, 0x52); // EMPTY_TUPLE, REDUCE
    p.op(0x74, 0x52); // TUPLE, REDUCE
  }
  p.op(0x75, 0x2e); // SETITEMS, STOP
  return p.bytes();
}

class PickleWriter {
  private parts: number[] = [];

  op(...codes: number[]): void {
    this.parts.push(...codes);
  }

  string(s: string): void {
    const b = new TextEncoder().encode(s);
    this.op(0x58, ...le(b.length, 4), ...b); // BINUNICODE
  }

  global(module: string, name: string): void {
    this.op(0x63, ...new TextEncoder().encode(`${module}\n${name}\n`));
  }

  int(n: number): void {
    if (n <= 0x7fffffff) this.op(0x4a, ...le(n, 4)); // BININT
    else this.op(0x8a, 8, ...le(n, 8)); // LONG1
  }

  tuple(values: readonly number[]): void {
    this.op(0x28);
    for (const v of values) this.int(v);
    this.op(0x74);
  }

  bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

function le(n: number, bytes: number): number[] {
  const out: number[] = [];
  let v = BigInt(n);
  for (let i = 0; i < bytes; i++, v >>= 8n) out.push(Number(v & 0xffn));
  return out;
}

/** A zip writer for stored entries, 64-byte aligned data, zip64 where needed. */
class ZipWriter {
  private offset = 0;
  private readonly central: Uint8Array[] = [];
  private count = 0;

  constructor(private readonly sink: ByteSink) {}

  async add(name: string, data: Uint8Array): Promise<void> {
    const nameBytes = new TextEncoder().encode(name);
    const crc = crc32(data);
    const zip64 = data.length >= 0xffffffff || this.offset >= 0xffffffff;
    // Local header: sizes in a zip64 extra field when large; padding (extra id "FB") aligns the data.
    const base = 30 + nameBytes.length + (zip64 ? 20 : 0);
    const pad = (64 - ((this.offset + base + 4) % 64)) % 64;
    const local = new Uint8Array(base + 4 + pad);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, zip64 ? 45 : 20, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, zip64 ? 0xffffffff : data.length, true);
    lv.setUint32(22, zip64 ? 0xffffffff : data.length, true);
    lv.setUint16(26, nameBytes.length, true);
    lv.setUint16(28, local.length - 30 - nameBytes.length, true);
    local.set(nameBytes, 30);
    let e = 30 + nameBytes.length;
    if (zip64) {
      lv.setUint16(e, 1, true);
      lv.setUint16(e + 2, 16, true);
      lv.setBigUint64(e + 4, BigInt(data.length), true);
      lv.setBigUint64(e + 12, BigInt(data.length), true);
      e += 20;
    }
    lv.setUint16(e, 0x4246, true);
    lv.setUint16(e + 2, pad, true);
    const headerOffset = this.offset;
    await this.sink.write(local);
    await this.sink.write(data);
    this.offset += local.length + data.length;

    const big = zip64 || headerOffset >= 0xffffffff;
    const entry = new Uint8Array(46 + nameBytes.length + (big ? 28 : 0));
    const cv = new DataView(entry.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 45, true);
    cv.setUint16(6, big ? 45 : 20, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, big ? 0xffffffff : data.length, true);
    cv.setUint32(24, big ? 0xffffffff : data.length, true);
    cv.setUint16(28, nameBytes.length, true);
    cv.setUint16(30, big ? 28 : 0, true);
    cv.setUint32(42, big ? 0xffffffff : headerOffset, true);
    entry.set(nameBytes, 46);
    if (big) {
      const x = 46 + nameBytes.length;
      cv.setUint16(x, 1, true);
      cv.setUint16(x + 2, 24, true);
      cv.setBigUint64(x + 4, BigInt(data.length), true);
      cv.setBigUint64(x + 12, BigInt(data.length), true);
      cv.setBigUint64(x + 20, BigInt(headerOffset), true);
    }
    this.central.push(entry);
    this.count++;
  }

  async finish(): Promise<void> {
    const cdOffset = this.offset;
    let cdSize = 0;
    for (const c of this.central) {
      await this.sink.write(c);
      cdSize += c.length;
    }
    const big = cdOffset + cdSize >= 0xffffffff || this.count >= 0xffff;
    if (big) {
      const record = new Uint8Array(56 + 20);
      const v = new DataView(record.buffer);
      v.setUint32(0, 0x06064b50, true);
      v.setBigUint64(4, 44n, true);
      v.setUint16(12, 45, true);
      v.setUint16(14, 45, true);
      v.setBigUint64(24, BigInt(this.count), true);
      v.setBigUint64(32, BigInt(this.count), true);
      v.setBigUint64(40, BigInt(cdSize), true);
      v.setBigUint64(48, BigInt(cdOffset), true);
      v.setUint32(56, 0x07064b50, true);
      v.setBigUint64(64, BigInt(cdOffset + cdSize), true);
      v.setUint32(72, 1, true);
      await this.sink.write(record);
    }
    const end = new Uint8Array(22);
    const v = new DataView(end.buffer);
    v.setUint32(0, 0x06054b50, true);
    v.setUint16(8, big ? 0xffff : this.count, true);
    v.setUint16(10, big ? 0xffff : this.count, true);
    v.setUint32(12, big ? 0xffffffff : cdSize, true);
    v.setUint32(16, big ? 0xffffffff : cdOffset, true);
    await this.sink.write(end);
  }
}

let tables: Int32Array[] | undefined;

/** CRC-32 (IEEE), which torch.load checks for every record; slicing by 8 (a GB of weights takes seconds). */
export function crc32(data: Uint8Array): number {
  if (!tables) {
    tables = Array.from({ length: 8 }, () => new Int32Array(256));
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      tables[0]![n] = c;
    }
    for (let n = 0; n < 256; n++) for (let k = 1; k < 8; k++) tables[k]![n] = tables[0]![tables[k - 1]![n]! & 0xff]! ^ (tables[k - 1]![n]! >>> 8);
  }
  const [t0, t1, t2, t3, t4, t5, t6, t7] = tables as [Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array];
  let crc = -1;
  let i = 0;
  for (const end = data.length - 8; i <= end; i += 8) {
    const a = crc ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
    crc = t7[a & 0xff]! ^ t6[(a >>> 8) & 0xff]! ^ t5[(a >>> 16) & 0xff]! ^ t4[a >>> 24]! ^ t3[data[i + 4]!]! ^ t2[data[i + 5]!]! ^ t1[data[i + 6]!]! ^ t0[data[i + 7]!]!;
  }
  for (; i < data.length; i++) crc = t0[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}
