import { DenseSSMError, FormatError } from "../errors.js";
import { folderSource, type FileProgress, type FileSource } from "./file-source.js";

// Models by name, as transformers.js fetches them: `org/name` is a folder on a model hub
// (`<hub>/<org>/<name>/resolve/<revision>/<file>`), and every file a loader asks for is
// downloaded once into a cache: ~/.cache/densessm in Node (resumable, written atomically, checked
// against its size), the Cache API in browsers. Offline, only the cache is read.

export const DEFAULT_HUB_URL = "https://huggingface.co";

export interface HubOptions {
  /** The hub's base URL (default: $DENSESSM_HUB_URL, else $HF_ENDPOINT, else https://huggingface.co). */
  hubUrl?: string;
  /** Branch, tag or commit (default "main"). */
  revision?: string;
  /** The cache folder in Node (default: $DENSESSM_CACHE, else ~/.cache/densessm). */
  cacheDir?: string;
  /** Read only what is cached (default: $DENSESSM_OFFLINE or $HF_HUB_OFFLINE set to 1/true). */
  offline?: boolean;
  onProgress?: (event: FileProgress) => void;
  signal?: AbortSignal;
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
  /**
   * A Cache API store to keep downloads in instead of the cache folder (browsers use
   * `globalThis.caches`; a service worker or a test may pass its own).
   */
  cacheStorage?: CacheStorageLike;
}

/** The part of the Cache API the hub cache uses. */
export interface CacheStorageLike {
  open(name: string): Promise<{ match(url: string): Promise<Response | undefined>; put(url: string, response: Response): Promise<void> }>;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Whether a string has the form of a hub model name (`org/name`). */
export function isHubName(value: string): boolean {
  return NAME.test(value) && !value.includes("..");
}

/** The hub settings in effect: options first, then the environment, then the defaults. */
export function hubSettings(options: HubOptions = {}): { hubUrl: string; revision: string; offline: boolean } {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {};
  const flag = (v: string | undefined) => v !== undefined && /^(1|true|yes|on)$/i.test(v);
  return {
    hubUrl: (options.hubUrl ?? env.DENSESSM_HUB_URL ?? env.HF_ENDPOINT ?? DEFAULT_HUB_URL).replace(/\/+$/, ""),
    revision: options.revision ?? "main",
    offline: options.offline ?? (flag(env.DENSESSM_OFFLINE) || flag(env.HF_HUB_OFFLINE)),
  };
}

/**
 * The files of hub model `repo` ("org/name"), fetched on first use into the cache. Node gets a
 * folder-backed source (ranged reads from the cached files); browsers one backed by the Cache API.
 */
export async function hubSource(repo: string, options: HubOptions = {}): Promise<FileSource> {
  if (!isHubName(repo)) throw new DenseSSMError(`"${repo}" is not a model name (expected org/name)`);
  const { hubUrl, revision, offline } = hubSettings(options);
  const location = `${hubUrl}/${repo}/resolve/${encodeURIComponent(revision)}/`;
  const isNode = typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === "string";
  const storage = options.cacheStorage ?? (isNode ? undefined : (globalThis as { caches?: CacheStorageLike }).caches);
  if (storage) return cacheApiSource(storage, location, offline, options);
  if (!isNode) throw new DenseSSMError("models by name need the Cache API (or Node's file system) to cache downloads");
  return nodeHubSource(repo, location, revision, offline, options);
}

// ---- Node: a cache folder, with resumable downloads ----

async function nodeHubSource(repo: string, location: string, revision: string, offline: boolean, options: HubOptions): Promise<FileSource> {
  const { homedir } = await import("node:os");
  const { join } = await import("node:path");
  const env = process.env;
  const root = options.cacheDir ?? env.DENSESSM_CACHE ?? join(homedir(), ".cache", "densessm");
  const dir = join(root, "models", ...repo.split("/"), revision.replace(/[^A-Za-z0-9._-]/g, "_"));
  // Progress is the download's; reading the cached copy back is not reported again.
  const cached = folderSource(dir);
  const pending = new Map<string, Promise<boolean>>();
  // Downloads a file into the cache once; false when the hub has no such file.
  const ensure = (name: string): Promise<boolean> => {
    let p = pending.get(name);
    if (!p) pending.set(name, (p = fetchIntoCache(dir, location, name, offline, options)));
    return p;
  };
  return {
    location,
    async read(name) {
      return (await ensure(name)) ? cached.read(name) : undefined;
    },
    async size(name) {
      return (await ensure(name)) ? cached.size!(name) : undefined;
    },
    async readRange(name, offset, length) {
      if (!(await ensure(name))) throw new FormatError(`${location}${name}: not on the hub`);
      return cached.readRange!(name, offset, length);
    },
  };
}

async function fetchIntoCache(dir: string, location: string, name: string, offline: boolean, options: HubOptions): Promise<boolean> {
  const { access, mkdir, open, rename, rm, stat, writeFile } = await import("node:fs/promises");
  const { join, dirname } = await import("node:path");
  if (name.includes("..") || name.startsWith("/") || name.includes("\\")) throw new FormatError(`${location}${name}: not a plain file name`);
  const file = join(dir, name);
  const absent = `${file}.absent`;
  const exists = (p: string) => access(p).then(() => true, () => false);
  if (await exists(file)) return true;
  if (await exists(absent)) return false;
  if (offline) throw new DenseSSMError(`${location}${name}: not in the cache (${dir}) and offline mode is on; run once online, or unset DENSESSM_OFFLINE`);
  await mkdir(dirname(file), { recursive: true });

  const url = `${location}${name}`;
  const partial = `${file}.partial`;
  const have = await stat(partial).then((s) => s.size, () => 0);
  const response = await request(url, have, options);
  if (response.status === 404) {
    await response.body?.cancel();
    await writeFile(absent, "");
    return false;
  }
  // 206: the server continues where the partial download stopped; anything else starts over.
  const resumed = response.status === 206 && contentRangeStart(response) === have;
  if (!resumed && response.status === 206) {
    await response.body?.cancel();
    throw new FormatError(`${url}: the server answered a resume from byte ${have} with ${response.headers.get("content-range") ?? "no Content-Range"}`);
  }
  const start = resumed ? have : 0;
  const total = resumed ? contentRangeTotal(response) : contentLength(response);
  options.onProgress?.({ status: "initiate", file: name });
  const handle = await open(partial, resumed ? "a" : "w");
  let loaded = start;
  try {
    const report = () => options.onProgress?.(total === undefined ? { status: "progress", file: name, loaded } : { status: "progress", file: name, loaded, total });
    report();
    if (response.body) {
      const reader = response.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        await handle.write(value);
        loaded += value.length;
        if (total !== undefined && loaded > total) throw new FormatError(`${url}: the server sent more than the ${total} bytes it announced`);
        report();
      }
    } else {
      const bytes = new Uint8Array(await response.arrayBuffer());
      await handle.write(bytes);
      loaded += bytes.length;
    }
    await handle.sync();
  } catch (e) {
    await handle.close();
    // What arrived stays in the .partial file: the next attempt resumes from there.
    if (e instanceof DenseSSMError || (e as Error).name === "AbortError") throw e;
    throw new FormatError(`${url}: download interrupted at ${loaded}${total === undefined ? "" : ` of ${total}`} bytes (${(e as Error).message}); run again to resume`);
  }
  await handle.close();
  if (total !== undefined && loaded !== total) {
    throw new FormatError(`${url}: download interrupted at ${loaded} of ${total} bytes; run again to resume`);
  }
  await rename(partial, file); // atomic: the cache never holds half a file under its real name
  await rm(absent, { force: true });
  options.onProgress?.({ status: "done", file: name, loaded });
  return true;
}

async function request(url: string, from: number, options: HubOptions): Promise<Response> {
  let response: Response;
  try {
    const headers: Record<string, string> = from > 0 ? { range: `bytes=${from}-` } : {};
    response = await (options.fetch ?? fetch)(url, { headers, ...(options.signal ? { signal: options.signal } : {}) });
  } catch (e) {
    if ((e as Error).name === "AbortError") throw e;
    throw new FormatError(`${url}: download failed (${(e as Error).message}); is the hub reachable? (set DENSESSM_OFFLINE=1 to use only the cache)`);
  }
  if (response.status === 416 && from > 0) {
    // The partial file is not a prefix the server recognises: start over.
    await response.body?.cancel();
    return request(url, 0, options);
  }
  if (response.status === 401 || response.status === 403) throw new FormatError(`${url}: HTTP ${response.status}: the model is private or gated (this loader sends no credentials)`);
  if (!response.ok && response.status !== 404) throw new FormatError(`${url}: HTTP ${response.status} ${response.statusText}`);
  return response;
}

function contentLength(response: Response): number | undefined {
  const n = Number(response.headers.get("content-length"));
  return Number.isSafeInteger(n) && n >= 0 && response.headers.get("content-length") !== null && !response.headers.get("content-encoding") ? n : undefined;
}

function contentRangeStart(response: Response): number | undefined {
  const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(response.headers.get("content-range") ?? "");
  return m ? Number(m[1]) : undefined;
}

function contentRangeTotal(response: Response): number | undefined {
  const m = /\/(\d+)$/.exec(response.headers.get("content-range") ?? "");
  return m ? Number(m[1]) : undefined;
}

// ---- Browsers (or any Cache API store) ----

type CacheLike = Awaited<ReturnType<CacheStorageLike["open"]>>;

async function cacheApiSource(storage: CacheStorageLike, location: string, offline: boolean, options: HubOptions): Promise<FileSource> {
  const cache = await storage.open("densessm-models");
  const blobs = new Map<string, Promise<Blob | undefined>>();
  const get = (name: string) => {
    let b = blobs.get(name);
    if (!b) blobs.set(name, (b = cachedBlob(cache, `${location}${name}`, name, offline, options)));
    return b;
  };
  return {
    location,
    async read(name) {
      const b = await get(name);
      return b && new Uint8Array(await b.arrayBuffer());
    },
    async size(name) {
      return (await get(name))?.size;
    },
    async readRange(name, offset, length) {
      // Cached responses are disk-backed blobs: a slice reads just its bytes.
      const b = await get(name);
      if (!b) throw new FormatError(`${location}${name}: not on the hub`);
      const part = new Uint8Array(await b.slice(offset, offset + length).arrayBuffer());
      if (part.length !== length) throw new FormatError(`${location}${name}: ends before the ${length} bytes from ${offset} (truncated download?)`);
      return part;
    },
  };
}

async function cachedBlob(cache: CacheLike, url: string, name: string, offline: boolean, options: HubOptions): Promise<Blob | undefined> {
  const hit = await cache.match(url);
  if (hit) return hit.status === 404 ? undefined : hit.blob();
  if (offline) throw new DenseSSMError(`${url}: not in the browser cache and offline mode is on`);
  options.onProgress?.({ status: "initiate", file: name });
  const response = await request(url, 0, options);
  if (response.status === 404) {
    await cache.put(url, new Response(null, { status: 404 }));
    return undefined;
  }
  const blob = await response.blob();
  const total = contentLength(response);
  if (total !== undefined && blob.size !== total) throw new FormatError(`${url}: received ${blob.size} of ${total} bytes (interrupted download); try again`);
  await cache.put(url, new Response(blob, { headers: { "content-length": String(blob.size) } }));
  options.onProgress?.({ status: "done", file: name, loaded: blob.size });
  return blob;
}
