import { FormatError } from "../errors.js";
import { describeFile, type FileSource } from "./file-source.js";

/**
 * One file of a source, read by byte ranges. Checkpoint readers parse headers from small reads and
 * then fetch one tensor (or storage) at a time, so a big checkpoint never sits in memory whole.
 * Sources without ranged reads are read once and sliced.
 */
export interface RandomAccessFile {
  /** `location/name`, for messages. */
  readonly where: string;
  readonly size: number;
  /** Bytes [offset, offset + length), bounds-checked against the file size. */
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** A file of `source` for ranged reads, or undefined when the source has no such file. */
export async function openFile(source: FileSource, name: string): Promise<RandomAccessFile | undefined> {
  const where = describeFile(source, name);
  const checked = (size: number, read: (offset: number, length: number) => Promise<Uint8Array>): RandomAccessFile => ({
    where,
    size,
    read(offset, length) {
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
        return Promise.reject(new FormatError(`${where}: bytes [${offset}, ${offset + length}) lie outside the file's ${size} bytes (truncated file?)`));
      }
      return read(offset, length);
    },
  });
  if (source.size && source.readRange) {
    const size = await source.size(name);
    if (size === undefined) return undefined;
    const readRange = source.readRange.bind(source);
    return checked(size, (offset, length) => readRange(name, offset, length));
  }
  const bytes = await source.read(name);
  if (bytes === undefined) return undefined;
  return checked(bytes.length, async (offset, length) => bytes.subarray(offset, offset + length));
}

/** A file held in memory, as a RandomAccessFile. */
export function bytesFile(bytes: Uint8Array, where: string): RandomAccessFile {
  return {
    where,
    size: bytes.length,
    async read(offset, length) {
      if (offset < 0 || length < 0 || offset + length > bytes.length) throw new FormatError(`${where}: bytes [${offset}, ${offset + length}) lie outside the file's ${bytes.length} bytes (truncated file?)`);
      return bytes.subarray(offset, offset + length);
    },
  };
}
