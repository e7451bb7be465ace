import { TokenizerFormatError } from "../errors.js";
import { BpeModel, type BpeMergeRule } from "../model/bpeModel.js";
import type { SpecialTokenTemplate } from "../pipeline/postProcessor.js";
import type { SpecialTokenNames, TokenizerDefinition } from "../tokenizer.js";
import type { AddedTokenJson, BpeModelJson, TokenizerConfigJson, TokenizerJson } from "./tokenizerJson.js";

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Parses tokenizer.json text, with errors that name the file. */
export function parseTokenizerJson(text: string, source = "tokenizer.json"): TokenizerJson {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new TokenizerFormatError(`${source}: not valid JSON (${(cause as Error).message})`, { cause });
  }
  validateTokenizerJson(json, source);
  return json;
}

/** Checks the shape of a tokenizer.json document far enough that building from it cannot crash. */
export function validateTokenizerJson(json: unknown, source = "tokenizer.json"): asserts json is TokenizerJson {
  if (!isObject(json)) throw new TokenizerFormatError(`${source}: expected a JSON object at the top level`);
  const model = json["model"];
  if (!isObject(model)) throw new TokenizerFormatError(`${source}: "model" is missing or not an object`);
  // Old files omit model.type for BPE (it was implied by the presence of merges).
  const type = model["type"] ?? ("merges" in model ? "BPE" : undefined);
  if (type !== "BPE") throw new TokenizerFormatError(`${source}: model.type ${JSON.stringify(type)} is not supported (expected BPE)`);
  if (!isObject(model["vocab"])) throw new TokenizerFormatError(`${source}: model.vocab must be an object of token → id`);
  if (!Array.isArray(model["merges"])) throw new TokenizerFormatError(`${source}: model.merges must be an array`);
  const added = json["added_tokens"];
  if (added !== undefined && added !== null) {
    if (!Array.isArray(added)) throw new TokenizerFormatError(`${source}: added_tokens must be an array`);
    added.forEach((t: unknown, i) => {
      if (!isObject(t) || typeof t["content"] !== "string" || !Number.isInteger(t["id"]) || (t["id"] as number) < 0) {
        throw new TokenizerFormatError(`${source}: added_tokens[${i}] needs a string "content" and a non-negative integer "id"`);
      }
    });
  }
}

function buildModel(json: BpeModelJson, source: string): BpeModel {
  for (const field of ["continuing_subword_prefix", "end_of_word_suffix"] as const) {
    const v = json[field];
    if (v !== undefined && v !== null && v !== "") {
      throw new TokenizerFormatError(`${source}: model.${field} ${JSON.stringify(v)} is not supported (expected null)`);
    }
  }
  if (typeof json.dropout === "number" && json.dropout > 0) {
    throw new TokenizerFormatError(`${source}: model.dropout ${json.dropout} is not supported (BPE dropout is for training; expected null)`);
  }
  const entries = Object.entries(json.vocab);
  let size = 0;
  for (const [token, id] of entries) {
    if (!Number.isInteger(id) || id < 0) throw new TokenizerFormatError(`${source}: model.vocab[${JSON.stringify(token)}] is ${JSON.stringify(id)} (expected a non-negative integer)`);
    if (id >= size) size = id + 1;
  }
  const vocab: string[] = new Array<string>(size).fill("");
  for (const [token, id] of entries) vocab[id] = token;
  const ids = new Map(entries);
  const merges: BpeMergeRule[] = json.merges.map((m, rank) => {
    let left: string;
    let right: string;
    if (typeof m === "string") {
      const space = m.indexOf(" ");
      if (space <= 0 || m.indexOf(" ", space + 1) !== -1) {
        throw new TokenizerFormatError(`${source}: model.merges[${rank}] ${JSON.stringify(m)} is not "left right"`);
      }
      left = m.slice(0, space);
      right = m.slice(space + 1);
    } else if (Array.isArray(m) && m.length === 2 && typeof m[0] === "string" && typeof m[1] === "string") {
      [left, right] = m;
    } else throw new TokenizerFormatError(`${source}: model.merges[${rank}] must be "left right" or [left, right]`);
    const l = ids.get(left);
    const r = ids.get(right);
    const result = ids.get(left + right);
    if (l === undefined || r === undefined || result === undefined) {
      const missing = l === undefined ? left : r === undefined ? right : left + right;
      throw new TokenizerFormatError(`${source}: model.merges[${rank}] (${JSON.stringify(left)} + ${JSON.stringify(right)}) uses ${JSON.stringify(missing)}, which is not in model.vocab`);
    }
    return { left: l, right: r, result, rank };
  });
  const unkToken = json.unk_token ?? null;
  let unkId: number | null = null;
  if (unkToken !== null) {
    const id = ids.get(unkToken);
    if (id === undefined) throw new TokenizerFormatError(`${source}: model.unk_token ${JSON.stringify(unkToken)} is not in model.vocab`);
    unkId = id;
  }
  return new BpeModel({
    vocab,
    merges,
    unkId,
    byteFallback: json.byte_fallback === true,
    fuseUnk: json.fuse_unk === true,
    ignoreMerges: json.ignore_merges === true,
  });
}

function tokenName(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (isObject(v) && typeof v["content"] === "string") return v["content"];
  return undefined;
}

const BOS_GUESSES = ["<s>", "<|begin_of_text|>", "<bos>", "<|endoftext|>"];
const EOS_GUESSES = ["</s>", "<|end_of_text|>", "<eos>", "<|endoftext|>"];
const UNK_GUESSES = ["<unk>", "<|unk|>"];
const PAD_GUESSES = ["<pad>", "<|padding|>"];

function guess(names: string[], has: (t: string) => boolean): string | undefined {
  return names.find(has);
}

/**
 * Builds a tokenizer from a tokenizer.json document plus, optionally, the tokenizer_config.json /
 * special_tokens_map.json settings that transformers layers on top (merged into `config`).
 */
export function definitionFromTokenizerJson(
  json: TokenizerJson,
  config: TokenizerConfigJson = {},
  source = "tokenizer.json",
  prebuiltModel?: BpeModel,
): TokenizerDefinition {
  validateTokenizerJson(json, source);
  const model = prebuiltModel ?? buildModel(json.model as BpeModelJson, source);
  const addedTokens: AddedTokenJson[] = (json.added_tokens ?? []).map((t) => ({ ...t }));
  // transformers lets tokenizer_config.json declare added tokens the tokenizer.json lacks.
  if (isObject(config.added_tokens_decoder)) {
    for (const [idText, t] of Object.entries(config.added_tokens_decoder)) {
      const id = Number(idText);
      if (!Number.isInteger(id) || !isObject(t) || typeof t["content"] !== "string") continue;
      if (!addedTokens.some((a) => a.id === id)) addedTokens.push({ ...(t as Omit<AddedTokenJson, "id">), id });
    }
  }
  const known = new Set<string>([...addedTokens.map((t) => t.content)]);
  const has = (t: string): boolean => known.has(t) || model.tokenToId(t) !== undefined;
  const modelUnk = (json.model as BpeModelJson).unk_token ?? undefined;
  const special: SpecialTokenNames = {};
  // An explicit null in the config means "none"; absent means "guess from the usual spellings".
  const pick = (value: unknown, fallback: () => string | undefined): string | undefined =>
    value === null ? undefined : (tokenName(value) ?? fallback());
  const bos = pick(config.bos_token, () => guess(BOS_GUESSES, has));
  const eos = pick(config.eos_token, () => guess(EOS_GUESSES, has));
  const unk = pick(config.unk_token, () => modelUnk ?? guess(UNK_GUESSES, has));
  const pad = pick(config.pad_token, () => guess(PAD_GUESSES, has));
  if (bos !== undefined && has(bos)) special.bos = bos;
  if (eos !== undefined && has(eos)) special.eos = eos;
  if (unk !== undefined && has(unk)) special.unk = unk;
  if (pad !== undefined && has(pad)) special.pad = pad;

  const idOf = (t: string): number | undefined => addedTokens.find((a) => a.content === t)?.id ?? model.tokenToId(t);
  let template: SpecialTokenTemplate | undefined;
  // Like transformers' LlamaTokenizerFast.update_post_processor: the config's flags rebuild the template.
  if (typeof config.add_bos_token === "boolean" || typeof config.add_eos_token === "boolean") {
    const bosId = special.bos === undefined ? undefined : idOf(special.bos);
    const eosId = special.eos === undefined ? undefined : idOf(special.eos);
    if (config.add_bos_token === true && bosId === undefined) throw new TokenizerFormatError(`tokenizer_config.json: add_bos_token is true but there is no BOS token`);
    if (config.add_eos_token === true && eosId === undefined) throw new TokenizerFormatError(`tokenizer_config.json: add_eos_token is true but there is no EOS token`);
    template = {
      prefix: config.add_bos_token === true && bosId !== undefined ? [bosId] : [],
      suffix: config.add_eos_token === true && eosId !== undefined ? [eosId] : [],
    };
  }
  return { json, model, addedTokens, specialTokens: special, ...(template === undefined ? {} : { template }) };
}
