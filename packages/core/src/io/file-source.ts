import { FormatError } from "../errors.js";

// Where a model's files come from: a folder on disk, a URL, or files a user picked in a browser.
// Loaders read through this one interface, so Node and the browser share every line of parsing.

/** Progress of one file being read or downloaded (`total` is absent when the size is unknown). */
export type FileProgress =
  | { readonly status: "initiate"; readonly file: string }
  | { readonly status: "progress"; readonly file: string; readonly loaded: number; readonly total?: number }
  | { readonly status: "done"; readonly file: string; readonly loaded: number };

export interface FileSource {
  /** The folder path or URL the files are named relative to (for messages). */
  readonly location: string;
  /** A file's bytes, or undefined when the source has no such file. */
  read(name: string): Promise<Uint8Array | undefined>;
  /**
   * A file's size in bytes, or undefined when the source has no such file. Sources that can read
   * parts of a file implement this with `readRange`, so loaders stream big checkpoints tensor by
   * tensor instead of holding whole files.
   */
  size?(name: string): Promise<number | undefined>;
  /** `length` bytes of a file from `offset` (the file must exist and hold them). */
  readRange?(name: string, offset: number, length: number): Promise<Uint8Array>;
}

export interface FileSourceOptions {
  onProgress?: (event: FileProgress) => void;
}

/** `location/name`, as messages name a file. */
export function describeFile(source: FileSource, name: string): string {
  return source.location.endsWith("/") ? `${source.location}${name}` : `${source.location}/${name}`;
}

/** A folder on disk (Node; node:fs is loaded only when a file is read). */
export function folderSource(dir: string, options: FileSourceOptions = {}): FileSource {
  const progress = rangeProgress(options.onProgress);
  return {
    location: dir,
    async read(name) {
      const { readFile } = await import("node:fs/promises");
      const { join } = await import("node:path");
      const file = join(dir, name);
      options.onProgress?.({ status: "initiate", file: name });
      let bytes: Uint8Array;
      try {
        bytes = await readFile(file);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "ENOENT" || code === "ENOTDIR") return undefined;
        throw new FormatError(`${file}: cannot read (${(e as Error).message})`);
      }
      options.onProgress?.({ status: "done", file: name, loaded: bytes.length });
      return bytes;
    },
    async size(name) {
      const { stat } = await import("node:fs/promises");
      const { join } = await import("node:path");
      try {
        const info = await stat(join(dir, name));
        if (!info.isFile()) return undefined;
        progress.sized(name, info.size);
        return info.size;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "ENOENT" || code === "ENOTDIR") return undefined;
        throw new FormatError(`${join(dir, name)}: cannot read (${(e as Error).message})`);
      }
    },
    async readRange(name, offset, length) {
      const { open } = await import("node:fs/promises");
      const { join } = await import("node:path");
      const file = join(dir, name);
      // A fresh, unpooled buffer: its data starts at byte 0, so typed views over it are aligned.
      const bytes = new Uint8Array(length);
      let handle;
      try {
        handle = await open(file, "r");
        for (let done = 0; done < length; ) {
          const { bytesRead } = await handle.read(bytes, done, length - done, offset + done);
          if (bytesRead === 0) throw new FormatError(`${file}: ends at byte ${offset + done}, before the ${length} bytes from ${offset} (truncated?)`);
          done += bytesRead;
        }
      } catch (e) {
        if (e instanceof FormatError) throw e;
        throw new FormatError(`${file}: cannot read (${(e as Error).message})`);
      } finally {
        await handle?.close();
      }
      progress.read(name, length);
      return bytes;
    },
  };
}

/**
 * Progress of files read by ranges: "initiate" when a loader first asks a file's size, then the
 * bytes read so far, and "done" once they add up to the file (loaders read each byte about once).
 */
function rangeProgress(onProgress: FileSourceOptions["onProgress"]) {
  const files = new Map<string, { total: number; loaded: number }>();
  return {
    sized(file: string, total: number) {
      if (!onProgress || files.has(file)) return;
      files.set(file, { total, loaded: 0 });
      onProgress({ status: "initiate", file });
    },
    read(file: string, length: number) {
      const f = files.get(file);
      if (!onProgress || !f || f.loaded >= f.total) return;
      f.loaded = Math.min(f.total, f.loaded + length);
      onProgress({ status: "progress", file, loaded: f.loaded, total: f.total });
      if (f.loaded === f.total) onProgress({ status: "done", file, loaded: f.total });
    },
  };
}

/** The minimum a picked file needs: a name (its path's last part is used) and its bytes. */
export interface NamedBlob {
  readonly name: string;
  arrayBuffer(): Promise<ArrayBuffer>;
  /** Present on real `File`s and `Blob`s: lets a loader read a big file part by part. */
  readonly size?: number;
  slice?(start: number, end: number): { arrayBuffer(): Promise<ArrayBuffer> };
}

/**
 * Files a user picked (an `<input type=file webkitdirectory>` FileList or dropped files). Only base
 * names count, so a picked folder and a multi-file pick both work.
 */
export function blobSource(files: Iterable<NamedBlob>, location = "picked files"): FileSource {
  const byName = new Map<string, NamedBlob>();
  for (const f of files) byName.set(f.name.split("/").pop()!, f);
  // Blob-likes without slice() are read whole once, then sliced.
  const buffers = new Map<string, Promise<ArrayBuffer>>();
  const whole = (name: string, f: NamedBlob) => {
    let b = buffers.get(name);
    if (!b) buffers.set(name, (b = f.arrayBuffer()));
    return b;
  };
  return {
    location,
    async read(name) {
      const f = byName.get(name);
      return f && new Uint8Array(await f.arrayBuffer());
    },
    async size(name) {
      const f = byName.get(name);
      return f && (f.size ?? (await whole(name, f)).byteLength);
    },
    async readRange(name, offset, length) {
      const f = byName.get(name);
      if (!f) throw new FormatError(`${location}: no file ${name}`);
      const part = f.slice ? await f.slice(offset, offset + length).arrayBuffer() : (await whole(name, f)).slice(offset, offset + length);
      if (part.byteLength !== length) throw new FormatError(`${location}/${name}: ends before the ${length} bytes from ${offset} (truncated?)`);
      return new Uint8Array(part);
    },
  };
}

export interface UrlSourceOptions extends FileSourceOptions {
  signal?: AbortSignal;
  /** The fetch to use (default: the global one); for tests and custom headers. */
  fetch?: typeof fetch;
}

/**
 * A folder served over HTTP(S): `url` is the folder (`https://host/models/tiny/`; relative URLs
 * resolve against the page in browsers). A 404 is a missing file; bytes are streamed so progress
 * is reported as they arrive.
 */
export function urlSource(url: string, options: UrlSourceOptions = {}): FileSource {
  const base = absolute(url.endsWith("/") ? url : `${url}/`);
  const href = (name: string) => new URL(name, base).href;
  // A server that ignores Range sends whole files: each is then downloaded once and kept.
  const whole = new Map<string, Promise<Uint8Array | undefined>>();
  const progress = rangeProgress(options.onProgress);
  const wholeFile = (name: string) => {
    let bytes = whole.get(name);
    if (!bytes) whole.set(name, (bytes = download(href(name), name, options)));
    return bytes;
  };
  return {
    location: base,
    read: (name) => download(href(name), name, options),
    async size(name) {
      if (whole.has(name)) return (await wholeFile(name))?.length;
      const response = await rangeRequest(href(name), 0, 1, options);
      if (response.status === 404) return undefined;
      const total = /\/(\d+)$/.exec(response.headers.get("content-range") ?? "")?.[1];
      await response.body?.cancel();
      if (response.status === 206 && total !== undefined) {
        progress.sized(name, Number(total));
        return Number(total);
      }
      return (await wholeFile(name))?.length;
    },
    async readRange(name, offset, length) {
      const url = href(name);
      if (length === 0) return new Uint8Array(0);
      if (!whole.has(name)) {
        const response = await rangeRequest(url, offset, length, options);
        if (response.status === 206) {
          const start = /^bytes (\d+)-/.exec(response.headers.get("content-range") ?? "")?.[1];
          if (Number(start) !== offset) throw new FormatError(`${url}: asked for bytes from ${offset}, the server sent ${response.headers.get("content-range") ?? "no Content-Range"}`);
          const bytes = new Uint8Array(await response.arrayBuffer());
          if (bytes.length !== length) throw new FormatError(`${url}: asked for ${length} bytes from ${offset}, got ${bytes.length} (truncated file?)`);
          progress.read(name, length);
          return bytes;
        }
        await response.body?.cancel();
        if (response.status === 404) throw new FormatError(`${url}: not found`);
      }
      const bytes = await wholeFile(name);
      if (!bytes || offset + length > bytes.length) throw new FormatError(`${url}: ${bytes ? `${bytes.length} bytes` : "missing"}, asked for ${length} bytes from ${offset} (truncated file?)`);
      return bytes.subarray(offset, offset + length);
    },
  };
}

async function rangeRequest(url: string, offset: number, length: number, options: UrlSourceOptions): Promise<Response> {
  let response: Response;
  try {
    response = await (options.fetch ?? fetch)(url, { headers: { range: `bytes=${offset}-${offset + length - 1}` }, ...(options.signal ? { signal: options.signal } : {}) });
  } catch (e) {
    if ((e as Error).name === "AbortError") throw e;
    throw new FormatError(`${url}: download failed (${(e as Error).message}); is the URL right and does the server allow this origin (CORS)?`);
  }
  if (!response.ok && response.status !== 404) throw new FormatError(`${url}: HTTP ${response.status} ${response.statusText}`);
  return response;
}

async function download(url: string, file: string, options: UrlSourceOptions): Promise<Uint8Array | undefined> {
  const doFetch = options.fetch ?? fetch;
  let response: Response;
  try {
    response = await doFetch(url, options.signal ? { signal: options.signal } : {});
  } catch (e) {
    if ((e as Error).name === "AbortError") throw e;
    throw new FormatError(`${url}: download failed (${(e as Error).message}); is the URL right and does the server allow this origin (CORS)?`);
  }
  if (response.status === 404) return undefined;
  if (!response.ok) throw new FormatError(`${url}: HTTP ${response.status} ${response.statusText}`);
  const length = Number(response.headers.get("content-length"));
  // Content-Length counts encoded bytes; with compression it no longer bounds what the reader yields.
  const total = Number.isFinite(length) && length > 0 && !response.headers.get("content-encoding") ? length : undefined;
  const report = (loaded: number) => options.onProgress?.(total === undefined ? { status: "progress", file, loaded } : { status: "progress", file, loaded, total });
  options.onProgress?.({ status: "initiate", file });
  let bytes: Uint8Array;
  if (!response.body) {
    bytes = new Uint8Array(await response.arrayBuffer());
    report(bytes.length);
  } else {
    const chunks: Uint8Array[] = [];
    let loaded = 0;
    report(0);
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      loaded += value.length;
      report(loaded);
    }
    bytes = concatBytes(chunks, loaded);
  }
  options.onProgress?.({ status: "done", file, loaded: bytes.length });
  return bytes;
}

function concatBytes(chunks: readonly Uint8Array[], length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const c of chunks) {
    bytes.set(c, offset);
    offset += c.length;
  }
  return bytes;
}

/** Relative URLs resolve against the page in browsers; elsewhere they must be absolute. */
function absolute(base: string): string {
  const location = (globalThis as { location?: { href: string } }).location;
  try {
    return new URL(base, location?.href).href;
  } catch {
    throw new FormatError(`${base}: not a valid URL (outside a browser, give an absolute http(s):// URL)`);
  }
}

/** A file as UTF-8 text; `undefined` when absent. */
export async function readText(source: FileSource, name: string): Promise<string | undefined> {
  const bytes = await source.read(name);
  if (bytes === undefined) return undefined;
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new FormatError(`${describeFile(source, name)}: not UTF-8 text`);
  }
}

/** A file holding one JSON object; `undefined` when absent. */
export async function readJsonObject(source: FileSource, name: string): Promise<Record<string, unknown> | undefined> {
  const text = await readText(source, name);
  if (text === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (e) {
    throw new FormatError(`${describeFile(source, name)}: invalid JSON (${(e as Error).message})`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new FormatError(`${describeFile(source, name)}: expected a JSON object, got ${json === null ? "null" : Array.isArray(json) ? "an array" : typeof json}`);
  return json as Record<string, unknown>;
}
