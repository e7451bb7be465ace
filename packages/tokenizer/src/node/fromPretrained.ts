import { TokenizerFormatError } from "../errors.js";
import { parseTokenizerJson } from "../hf/fromTokenizerJson.js";
import type { TokenizerConfigJson } from "../hf/tokenizerJson.js";
import { Tokenizer } from "../tokenizer.js";
import { nodeFs, nodePath, readIfExists } from "./nodeModules.js";

async function readJsonObject(path: string): Promise<Record<string, unknown> | undefined> {
  const bytes = await readIfExists(path);
  if (bytes === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString("utf8"));
  } catch (cause) {
    throw new TokenizerFormatError(`${path}: not valid JSON (${(cause as Error).message})`, { cause });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new TokenizerFormatError(`${path}: expected a JSON object`);
  return value as Record<string, unknown>;
}

export interface FromPretrainedOptions {
  /** Settings that override tokenizer_config.json (e.g. `{ add_eos_token: true }`). */
  config?: TokenizerConfigJson;
  /** Which file to build from when both exist (default: tokenizer.json, as transformers' fast tokenizers do). */
  prefer?: "tokenizer.json" | "tokenizer.model";
}

/**
 * Loads a tokenizer from a model directory the way transformers / transformers.js do: tokenizer.json
 * if present, otherwise the sentencepiece tokenizer.model, with special_tokens_map.json and then
 * tokenizer_config.json (add_bos_token, add_eos_token, token names, added_tokens_decoder) on top.
 */
export async function fromPretrained(dir: string, options: FromPretrainedOptions = {}): Promise<Tokenizer> {
  const path = await nodePath();
  const specialMap = (await readJsonObject(path.join(dir, "special_tokens_map.json"))) ?? {};
  const tokenizerConfig = (await readJsonObject(path.join(dir, "tokenizer_config.json"))) ?? {};
  const config: TokenizerConfigJson = { ...specialMap, ...tokenizerConfig, ...options.config };
  const jsonPath = path.join(dir, "tokenizer.json");
  const modelPath = path.join(dir, "tokenizer.model");
  const order = options.prefer === "tokenizer.model" ? [modelPath, jsonPath] : [jsonPath, modelPath];
  for (const file of order) {
    const bytes = await readIfExists(file);
    if (bytes === undefined) continue;
    if (file === jsonPath) return Tokenizer.fromJSON(parseTokenizerJson(bytes.toString("utf8"), file), config);
    return Tokenizer.fromSentencePiece(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), config);
  }
  throw new TokenizerFormatError(`${dir}: no tokenizer.json or tokenizer.model found`);
}

/**
 * Loads a tokenizer from a directory (see {@link fromPretrained}) or a single file: a tokenizer.json
 * or a sentencepiece .model (told apart by content). A file named exactly tokenizer.json or
 * tokenizer.model also picks up the tokenizer_config.json next to it.
 */
export async function loadTokenizer(fileOrDir: string, options: FromPretrainedOptions = {}): Promise<Tokenizer> {
  const fs = await nodeFs();
  const path = await nodePath();
  let stat;
  try {
    stat = await fs.stat(fileOrDir);
  } catch (cause) {
    throw new TokenizerFormatError(`${fileOrDir}: no such file or directory`, { cause });
  }
  if (stat.isDirectory()) return fromPretrained(fileOrDir, options);
  const base = path.basename(fileOrDir);
  if (base === "tokenizer.json" || base === "tokenizer.model") {
    return fromPretrained(path.dirname(fileOrDir), { ...options, prefer: base });
  }
  const bytes = await fs.readFile(fileOrDir);
  const firstChar = bytes.toString("utf8", 0, Math.min(bytes.length, 64)).trimStart()[0];
  if (firstChar === "{") return Tokenizer.fromJSON(parseTokenizerJson(bytes.toString("utf8"), fileOrDir), options.config ?? {});
  return Tokenizer.fromSentencePiece(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), options.config ?? {});
}
