import { FormatError } from "../../errors.js";
import type { RandomAccessFile } from "../random-access.js";

// The part of the zip format torch.save uses (torch ≥ 1.6): stored (uncompressed) entries, a
// central directory at the end, and zip64 records once the file passes 4 GiB. Only the central
// directory and one local header per entry read are parsed; entry data is read by range.

/** A stored entry: where its bytes start in the file, and how many there are. */
export interface ZipEntry {
  readonly name: string;
  /** Offset of the entry's local header (its data starts after the header, see `entryData`). */
  readonly headerOffset: number;
  readonly size: number;
}

const EOCD = 0x06054b50;
const EOCD64 = 0x06064b50;
const EOCD64_LOCATOR = 0x07064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const MAX_COMMENT = 0xffff;
/** More entries than any checkpoint has (one per storage plus a few): a bound on parsing work. */
const MAX_ENTRIES = 1_000_000;

/** Whether the first bytes are a zip local header ("PK\3\4"). */
export function isZip(first: Uint8Array): boolean {
  return first.length >= 4 && new DataView(first.buffer, first.byteOffset, 4).getUint32(0, true) === LOCAL;
}

/** Reads the central directory of a zip file: every entry by name, all stored, all inside the file. */
export async function readZipDirectory(file: RandomAccessFile): Promise<Map<string, ZipEntry>> {
  const fail = (problem: string) => new FormatError(`${file.where}: ${problem}`);
  // torch writes no archive comment, so the record is the last 22 bytes (plus the zip64 locator
  // before it); only other writers make us search the longest comment's worth of tail.
  let tail = await file.read(Math.max(0, file.size - 42), Math.min(file.size, 42));
  let tv = view(tail);
  let eocd = tail.length >= 22 && tv.getUint32(tail.length - 22, true) === EOCD ? tail.length - 22 : -1;
  if (eocd < 0) {
    tail = await file.read(Math.max(0, file.size - (22 + MAX_COMMENT + 20)), Math.min(file.size, 22 + MAX_COMMENT + 20));
    tv = view(tail);
    for (let i = tail.length - 22; i >= 0; i--) {
      if (tv.getUint32(i, true) === EOCD) {
        eocd = i;
        break;
      }
    }
  }
  if (eocd < 0) throw fail("no zip end-of-central-directory record (truncated file?)");
  let count = tv.getUint16(eocd + 10, true);
  let cdSize = tv.getUint32(eocd + 12, true);
  let cdOffset = tv.getUint32(eocd + 16, true);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    // zip64: a locator just before the record points at the zip64 end-of-directory record.
    if (eocd < 20 || tv.getUint32(eocd - 20, true) !== EOCD64_LOCATOR) throw fail("zip64 sizes without a zip64 locator (corrupt file)");
    const recordOffset = safe(tv.getBigUint64(eocd - 20 + 8, true), file.size, "zip64 record offset", fail);
    const record = view(await file.read(recordOffset, 56));
    if (record.getUint32(0, true) !== EOCD64) throw fail("zip64 end-of-central-directory record missing (corrupt file)");
    count = safe(record.getBigUint64(32, true), MAX_ENTRIES, "zip64 entry count", fail);
    cdSize = safe(record.getBigUint64(40, true), file.size, "zip64 directory size", fail);
    cdOffset = safe(record.getBigUint64(48, true), file.size, "zip64 directory offset", fail);
  }
  if (cdOffset + cdSize > file.size) throw fail(`central directory [${cdOffset}, ${cdOffset + cdSize}) lies outside the file's ${file.size} bytes (truncated file?)`);
  const cd = await file.read(cdOffset, cdSize);
  const cv = view(cd);
  const entries = new Map<string, ZipEntry>();
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cd.length || cv.getUint32(p, true) !== CENTRAL) throw fail(`central directory entry ${i} is malformed`);
    const method = cv.getUint16(p + 10, true);
    let size = cv.getUint32(p + 24, true);
    let compressed = cv.getUint32(p + 20, true);
    const nameLength = cv.getUint16(p + 28, true);
    const extraLength = cv.getUint16(p + 30, true);
    const commentLength = cv.getUint16(p + 32, true);
    let headerOffset = cv.getUint32(p + 42, true);
    if (p + 46 + nameLength + extraLength + commentLength > cd.length) throw fail(`central directory entry ${i} runs past the directory`);
    const name = decodeName(cd.subarray(p + 46, p + 46 + nameLength));
    // zip64 extra field (id 1): the 64-bit values of whichever fields above are 0xffffffff, in order.
    let q = p + 46 + nameLength;
    const extraEnd = q + extraLength;
    while (q + 4 <= extraEnd) {
      const id = cv.getUint16(q, true);
      const len = cv.getUint16(q + 2, true);
      if (q + 4 + len > extraEnd) throw fail(`entry ${name}: malformed extra field`);
      if (id === 1) {
        let r = q + 4;
        const next = (): number => {
          if (r + 8 > q + 4 + len) throw fail(`entry ${name}: short zip64 field`);
          const v = safe(cv.getBigUint64(r, true), file.size, `entry ${name} zip64 value`, fail);
          r += 8;
          return v;
        };
        if (size === 0xffffffff) size = next();
        if (compressed === 0xffffffff) compressed = next();
        if (headerOffset === 0xffffffff) headerOffset = next();
      }
      q += 4 + len;
    }
    if (method !== 0) throw fail(`entry ${name} is compressed (method ${method}); torch.save writes stored entries, so this file was repacked: re-save it with torch.save`);
    if (compressed !== size) throw fail(`entry ${name}: stored sizes disagree (${compressed} vs ${size})`);
    if (headerOffset + 30 + size > file.size) throw fail(`entry ${name} (${size} bytes at ${headerOffset}) runs past the end of the file (truncated file?)`);
    if (entries.has(name)) throw fail(`entry ${name} appears twice`);
    entries.set(name, { name, headerOffset, size });
    p += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

/** The byte offset of an entry's data: after its local header, whose own name/extra lengths count. */
export async function entryDataOffset(file: RandomAccessFile, entry: ZipEntry): Promise<number> {
  const header = view(await file.read(entry.headerOffset, 30));
  if (header.getUint32(0, true) !== LOCAL) throw new FormatError(`${file.where}: entry ${entry.name} has no local header at ${entry.headerOffset} (corrupt file)`);
  const start = entry.headerOffset + 30 + header.getUint16(26, true) + header.getUint16(28, true);
  if (start + entry.size > file.size) throw new FormatError(`${file.where}: entry ${entry.name} (${entry.size} bytes at ${start}) runs past the end of the file (truncated file?)`);
  return start;
}

/** An entry's bytes. */
export async function readEntry(file: RandomAccessFile, entry: ZipEntry): Promise<Uint8Array> {
  return file.read(await entryDataOffset(file, entry), entry.size);
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function safe(value: bigint, max: number, what: string, fail: (problem: string) => FormatError): number {
  if (value > BigInt(max)) throw fail(`${what} ${value} is beyond the file (corrupt or truncated file)`);
  return Number(value);
}

function decodeName(bytes: Uint8Array): string {
  return new TextDecoder("utf-8").decode(bytes);
}
