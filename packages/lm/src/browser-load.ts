import { FormatError, parseSafetensors, type CausalLM, type Module, type Tensor } from "@densessm/core";
import { MambaForCausalLM } from "@densessm/mamba";
import { Tokenizer, type TokenizerConfigJson, type TokenizerJson } from "@densessm/tokenizer";
import { assertVocabularyFits, createModel } from "./models.js";

// Loading a model without a file system, for browsers (and anything else that holds the bytes):
// `fetchModel` downloads a model folder from a URL with progress, `readModelFiles` reads files a user
// picked, and `loadModelFromFiles` builds the CausalLM and tokenizer from what either returns. Nothing
// here imports node:*; the folder loaders in models.ts and language-model.ts stay the Node path.

/** The contents of a model folder, parsed: config.json, the safetensors weights and the tokenizer. */
export interface ModelFiles {
  config: Record<string, unknown>;
  weights: ReadonlyMap<string, Tensor>;
  tokenizerJson: TokenizerJson | string;
  /** tokenizer_config.json, when the folder has one (BOS/EOS names, add_bos_token, …). */
  tokenizerConfig?: TokenizerConfigJson;
}

/** A model with its tokenizer, not yet bound to a session (`new LanguageModel(lm, tokenizer, session)`). */
export interface LoadedModel {
  lm: CausalLM;
  tokenizer: Tokenizer;
}

/** Download progress of one file: `total` is absent when the server sends no Content-Length. */
export interface FetchProgress {
  file: string;
  loaded: number;
  total?: number;
}

export interface FetchModelOptions {
  onProgress?: (event: FetchProgress) => void;
  signal?: AbortSignal;
  /** The fetch to use (default: the global one); for tests and custom headers. */
  fetch?: typeof fetch;
}

/** The minimum a picked file needs: a name (its path's last part is used) and its bytes. */
export interface NamedBlob {
  readonly name: string;
  arrayBuffer(): Promise<ArrayBuffer>;
}

const INDEX = "model.safetensors.index.json";
const REQUIRED = "a model folder needs config.json, model.safetensors (or a sharded model.safetensors.index.json) and tokenizer.json";

/** Builds the model (any supported family) and its tokenizer from parsed folder contents. */
export function loadModelFromFiles(files: ModelFiles, source = "model"): LoadedModel {
  const lm = createModel(files.config);
  for (const [name, t] of files.weights) {
    if (t.dtype === "int32") throw new FormatError(`${source}: tensor "${name}" is an integer tensor; expected floating point weights`);
  }
  if (lm instanceof MambaForCausalLM) lm.loadStateDict(files.weights);
  else lm.module.loadStateDict(withTiedWeights(lm.module, files.weights));
  let tokenizer: Tokenizer;
  try {
    tokenizer = Tokenizer.fromJSON(files.tokenizerJson, files.tokenizerConfig ?? {});
  } catch (e) {
    throw new FormatError(`${source}: tokenizer.json is not usable (${(e as Error).message})`);
  }
  assertVocabularyFits(lm, tokenizer.vocabSize, source);
  return { lm, tokenizer };
}

/**
 * Fills in tied weights a checkpoint stores once: a parameter the module shares under two names
 * (e.g. the embedding and lm_head) may be present under either. This is what retnet's Node-only
 * `loadWeights` does with its `tiedNames`, found here from the module's own sharing instead.
 */
function withTiedWeights(module: Module, weights: ReadonlyMap<string, Tensor>): Map<string, Tensor> {
  const dict = new Map(weights);
  const params = module.allNamedParameters();
  for (const [name, p] of params) {
    if (dict.has(name)) continue;
    const source = params.find(([other, q]) => q === p && other !== name && dict.has(other));
    if (source) dict.set(name, dict.get(source[0])!);
  }
  return dict;
}

/**
 * Downloads a model folder served over HTTP(S): `url` is the folder (`https://host/models/tiny/`),
 * holding config.json, model.safetensors (or a sharded index) and tokenizer.json, plus optionally
 * tokenizer_config.json. Progress is reported per file as bytes arrive.
 */
export async function fetchModel(url: string, options: FetchModelOptions = {}): Promise<ModelFiles> {
  const base = url.endsWith("/") ? url : `${url}/`;
  const get = async (file: string, optional = false): Promise<Uint8Array | undefined> => {
    const bytes = await download(new URL(file, absolute(base)).href, file, options);
    if (bytes === undefined && !optional) throw new FormatError(`${base}: no ${file} (HTTP 404); ${REQUIRED}`);
    return bytes;
  };
  const config = parseJSONObject(await get("config.json"), `${base}config.json`);
  const tokenizerText = decodeText((await get("tokenizer.json"))!, `${base}tokenizer.json`);
  const tokenizerConfigBytes = await get("tokenizer_config.json", true);
  let weights: Map<string, Tensor>;
  const single = await get("model.safetensors", true);
  if (single) weights = parseSafetensors(single, `${base}model.safetensors`).tensors;
  else {
    const index = await get(INDEX, true);
    if (!index) throw new FormatError(`${base}: neither model.safetensors nor ${INDEX} (HTTP 404); ${REQUIRED}`);
    weights = new Map();
    for (const shard of shardNames(parseJSONObject(index, `${base}${INDEX}`), `${base}${INDEX}`)) {
      for (const [name, t] of parseSafetensors((await get(shard))!, `${base}${shard}`).tensors) weights.set(name, t);
    }
  }
  return {
    config,
    weights,
    tokenizerJson: tokenizerText,
    ...(tokenizerConfigBytes ? { tokenizerConfig: parseJSONObject(tokenizerConfigBytes, `${base}tokenizer_config.json`) as TokenizerConfigJson } : {}),
  };
}

/**
 * Reads a model folder from files a user picked (an `<input type=file webkitdirectory>` FileList or
 * dropped files). Only the base names count, so a picked folder and a multi-file pick both work.
 */
export async function readModelFiles(files: Iterable<NamedBlob>, source = "picked files"): Promise<ModelFiles> {
  const byName = new Map<string, NamedBlob>();
  for (const f of files) byName.set(f.name.split("/").pop()!, f);
  const bytes = async (name: string): Promise<Uint8Array | undefined> => {
    const f = byName.get(name);
    return f && new Uint8Array(await f.arrayBuffer());
  };
  const missing = ["config.json", "tokenizer.json"].filter((n) => !byName.has(n));
  if (!byName.has("model.safetensors") && !byName.has(INDEX)) missing.push("model.safetensors");
  if (missing.length) throw new FormatError(`${source}: missing ${missing.join(", ")}; ${REQUIRED}`);
  // Only the model's own files: a training checkpoint also holds optimizer.safetensors.
  const shards = byName.has("model.safetensors") ? ["model.safetensors"] : shardNames(parseJSONObject(await bytes(INDEX), INDEX), INDEX);
  const weights = new Map<string, Tensor>();
  for (const shard of shards) {
    const data = await bytes(shard);
    if (!data) throw new FormatError(`${source}: ${INDEX} lists ${shard}, which was not picked`);
    for (const [name, t] of parseSafetensors(data, shard).tensors) weights.set(name, t);
  }
  const tokenizerConfig = await bytes("tokenizer_config.json");
  return {
    config: parseJSONObject((await bytes("config.json"))!, "config.json"),
    weights,
    tokenizerJson: decodeText((await bytes("tokenizer.json"))!, "tokenizer.json"),
    ...(tokenizerConfig ? { tokenizerConfig: parseJSONObject(tokenizerConfig, "tokenizer_config.json") as TokenizerConfigJson } : {}),
  };
}

/** One file's bytes, streamed so progress can be reported; undefined on 404. */
async function download(url: string, file: string, options: FetchModelOptions): Promise<Uint8Array | undefined> {
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
  const report = (loaded: number) => options.onProgress?.(total === undefined ? { file, loaded } : { file, loaded, total });
  if (!response.body) {
    const bytes = new Uint8Array(await response.arrayBuffer());
    report(bytes.length);
    return bytes;
  }
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
  const bytes = new Uint8Array(loaded);
  let offset = 0;
  for (const c of chunks) {
    bytes.set(c, offset);
    offset += c.length;
  }
  return bytes;
}

function shardNames(index: Record<string, unknown>, source: string): string[] {
  const map = index.weight_map;
  if (typeof map !== "object" || map === null) throw new FormatError(`${source}: no "weight_map" object`);
  return [...new Set(Object.values(map as Record<string, unknown>).map(String))].sort();
}

function decodeText(bytes: Uint8Array, source: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new FormatError(`${source}: not UTF-8 text`);
  }
}

function parseJSONObject(bytes: Uint8Array | undefined, source: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(decodeText(bytes ?? new Uint8Array(), source));
  } catch (e) {
    throw new FormatError(`${source}: invalid JSON (${(e as Error).message})`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new FormatError(`${source}: expected a JSON object`);
  return json as Record<string, unknown>;
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
