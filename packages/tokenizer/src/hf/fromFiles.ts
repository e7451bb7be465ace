import { TokenizerFormatError } from "../errors.js";
import { Tokenizer } from "../tokenizer.js";
import { parseTokenizerJson } from "./fromTokenizerJson.js";
import type { TokenizerConfigJson } from "./tokenizerJson.js";

/** Any source of a model folder's files: a folder on disk, a URL, files picked in a browser. */
export interface TokenizerFiles {
  /** The folder path or URL, for messages. */
  readonly location: string;
  /** A file's bytes, or undefined when there is no such file. */
  read(name: string): Promise<Uint8Array | undefined>;
}

export interface FromPretrainedOptions {
  /** Settings that override tokenizer_config.json (e.g. `{ add_eos_token: true }`). */
  config?: TokenizerConfigJson;
  /** Which file to build from when both exist (default: tokenizer.json, as transformers' fast tokenizers do). */
  prefer?: "tokenizer.json" | "tokenizer.model";
}

const where = (files: TokenizerFiles, name: string) => (files.location.endsWith("/") ? `${files.location}${name}` : `${files.location}/${name}`);

async function readJsonObject(files: TokenizerFiles, name: string): Promise<Record<string, unknown> | undefined> {
  const bytes = await files.read(name);
  if (bytes === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch (cause) {
    throw new TokenizerFormatError(`${where(files, name)}: not valid JSON (${(cause as Error).message})`, { cause });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new TokenizerFormatError(`${where(files, name)}: expected a JSON object`);
  return value as Record<string, unknown>;
}

/**
 * Loads a tokenizer from a model folder's files the way transformers / transformers.js do:
 * tokenizer.json if present, otherwise the sentencepiece tokenizer.model, with
 * special_tokens_map.json and then tokenizer_config.json (add_bos_token, add_eos_token, token
 * names, added_tokens_decoder) on top.
 */
export async function tokenizerFromFiles(files: TokenizerFiles, options: FromPretrainedOptions = {}): Promise<Tokenizer> {
  const specialMap = (await readJsonObject(files, "special_tokens_map.json")) ?? {};
  const tokenizerConfig = (await readJsonObject(files, "tokenizer_config.json")) ?? {};
  const config: TokenizerConfigJson = { ...specialMap, ...tokenizerConfig, ...options.config };
  const order = options.prefer === "tokenizer.model" ? ["tokenizer.model", "tokenizer.json"] : ["tokenizer.json", "tokenizer.model"];
  for (const name of order) {
    const bytes = await files.read(name);
    if (bytes === undefined) continue;
    if (name === "tokenizer.json") return Tokenizer.fromJSON(parseTokenizerJson(new TextDecoder().decode(bytes), where(files, name)), config);
    return Tokenizer.fromSentencePiece(bytes, config);
  }
  throw new TokenizerFormatError(`${files.location}: no tokenizer.json or tokenizer.model found`);
}
