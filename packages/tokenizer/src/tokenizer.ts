import { TokenizerFormatError } from "./errors.js";
import { definitionFromTokenizerJson, parseTokenizerJson } from "./hf/fromTokenizerJson.js";
import type { AddedTokenJson, TokenizerConfigJson, TokenizerJson } from "./hf/tokenizerJson.js";
import type { BpeModel } from "./model/bpeModel.js";
import { AddedTokenSplitter, type AddedTokenMatch, type Segment } from "./pipeline/addedTokens.js";
import { compileDecoder, type CompiledDecoder } from "./pipeline/decoder.js";
import { compileNormalizer, METASPACE, type NormalizeFn } from "./pipeline/normalizer.js";
import { applySplit, compilePreTokenizer, type CompiledPreTokenizer, type RegexSplit } from "./pipeline/preTokenizer.js";
import { compilePostProcessor, type SpecialTokenTemplate } from "./pipeline/postProcessor.js";
import { definitionFromSentencePiece } from "./sentencepiece/fromSentencePiece.js";
import { parseSentencePieceModel } from "./sentencepiece/modelProto.js";
import { byteLevelAlphabet, byteLevelDecodeTable, toWellFormed, utf8Bytes } from "./unicode.js";
import { WordCache } from "./wordCache.js";

export interface EncodeOptions {
  /**
   * Add the tokenizer's special tokens around the text (default true): its post-processor template,
   * e.g. LLaMA's BOS, as adjusted by tokenizer_config.json's add_bos_token / add_eos_token.
   * `false` is sentencepiece's plain encode.
   */
  addSpecialTokens?: boolean;
  /** Force BOS on or off (overrides the template; ignored when addSpecialTokens is false). */
  addBos?: boolean;
  /** Force EOS on or off (overrides the template; ignored when addSpecialTokens is false). */
  addEos?: boolean;
  /**
   * Recognize special tokens spelled out in the text ("<s>", "<|endoftext|>") as those tokens
   * (default false: they are ordinary text, as in sentencepiece, so untrusted input cannot inject
   * control tokens). Non-special added tokens are always recognized.
   */
  parseSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Leave out special tokens (BOS, EOS, pad, unk…) from the text (default false). */
  skipSpecialTokens?: boolean;
}

/** Names of the well-known special tokens (absent when the tokenizer has none). */
export interface SpecialTokenNames {
  bos?: string;
  eos?: string;
  unk?: string;
  pad?: string;
}

/** Everything needed to build a {@link Tokenizer}; produced by the loaders and the trainer. */
export interface TokenizerDefinition {
  /** The canonical tokenizer.json; what {@link Tokenizer.toJSON} returns and saveTokenizer writes. */
  json: TokenizerJson;
  model: BpeModel;
  /** Added tokens (special or not), including those already in the model vocabulary. */
  addedTokens: AddedTokenJson[];
  specialTokens: SpecialTokenNames;
  /** Overrides the post-processor's template (tokenizer_config.json's add_bos_token/add_eos_token). */
  template?: SpecialTokenTemplate;
}

const SPACE = 0x20;
// ignoreBOM keeps a leading U+FEFF in the text: it is content here (it was encoded), not a marker.
const UTF8 = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
const METASPACE_CODE = 0x2581;

function isSpaceLike(c: number): boolean {
  return c === SPACE || c === METASPACE_CODE;
}

/**
 * A BPE tokenizer: sentencepiece-style (LLaMA: ▁ for spaces, `<0xNN>` byte fallback) or
 * byte-level (GPT-2 / GPT-NeoX). Build one with `Tokenizer.fromJSON`, `Tokenizer.fromSentencePiece`,
 * `fromPretrained` or `trainTokenizer`. Encoding and decoding are synchronous and browser-safe.
 */
export class Tokenizer {
  private readonly model: BpeModel;
  readonly specialTokens: Readonly<SpecialTokenNames>;
  private readonly json: TokenizerJson;
  private readonly idToTokenList: string[];
  private readonly tokenToIdMap: Map<string, number>;
  private readonly specialIds = new Set<number>();
  private readonly normalize: NormalizeFn | null;
  private readonly escapesSpaces: boolean;
  private readonly preTokenizer: CompiledPreTokenizer;
  private readonly template: SpecialTokenTemplate;
  private readonly decoderSpec: CompiledDecoder;
  private readonly splitters: Record<"raw" | "normalized", Record<"all" | "plain", AddedTokenSplitter>>;
  /** Whether no vocabulary entry has ▁ right after another character (see encodeMetaspace). */
  private readonly spaceRunsAreSeparable: boolean;
  private readonly cache = new WordCache();
  /** For byte-level tokenizers: id of each byte's GPT-2 alphabet character (-1 when missing). */
  private readonly byteLevelSymbols: Int32Array | null;
  private readonly byteLevelTable: Int16Array | null;
  private readonly tokenBytesCache: Array<Uint8Array | undefined>;

  constructor(definition: TokenizerDefinition) {
    const { json, model, addedTokens } = definition;
    this.json = json;
    this.model = model;
    const normalizer = compileNormalizer(json.normalizer);
    this.normalize = normalizer.normalize;
    this.escapesSpaces = normalizer.escapesSpaces;
    this.preTokenizer = compilePreTokenizer(json.pre_tokenizer);
    if (this.escapesSpaces && (this.preTokenizer.metaspace !== null || this.preTokenizer.byteLevel)) {
      throw new TokenizerFormatError("tokenizer.json: a normalizer that escapes spaces with ▁ cannot be combined with a Metaspace or ByteLevel pre-tokenizer");
    }
    this.decoderSpec = compileDecoder(json.decoder);
    this.template = definition.template ?? compilePostProcessor(json.post_processor);

    const size = Math.max(model.vocabSize, ...addedTokens.map((t) => t.id + 1));
    this.idToTokenList = Array.from({ length: size }, (_, i) => model.vocab[i] ?? "");
    this.tokenToIdMap = new Map();
    model.vocab.forEach((token, id) => {
      if (token.length > 0 && !this.tokenToIdMap.has(token)) this.tokenToIdMap.set(token, id);
    });
    const matches: Record<"raw" | "normalized", Record<"all" | "plain", AddedTokenMatch[]>> = {
      raw: { all: [], plain: [] },
      normalized: { all: [], plain: [] },
    };
    for (const t of addedTokens) {
      this.idToTokenList[t.id] = t.content;
      this.tokenToIdMap.set(t.content, t.id);
      if (t.special === true) this.specialIds.add(t.id);
      // HF matches a `normalized` added token against normalized text, spelled as its content
      // after normalization (for LLaMA's legacy tokenizer.json "<s>" is looked for as "▁<s>").
      const normalized = t.normalized ?? !t.special;
      const pattern = normalized ? this.normalizeFully(t.content) : t.content;
      const match: AddedTokenMatch = { id: t.id, pattern, lstrip: t.lstrip === true, rstrip: t.rstrip === true, singleWord: t.single_word === true };
      const group = matches[normalized ? "normalized" : "raw"];
      group.all.push(match);
      if (t.special !== true) group.plain.push(match);
    }
    this.splitters = {
      raw: { all: new AddedTokenSplitter(matches.raw.all), plain: new AddedTokenSplitter(matches.raw.plain) },
      normalized: { all: new AddedTokenSplitter(matches.normalized.all), plain: new AddedTokenSplitter(matches.normalized.plain) },
    };
    this.specialTokens = { ...definition.specialTokens };
    this.spaceRunsAreSeparable = !model.vocab.some((t) => /[^\u2581]\u2581/u.test(t));
    this.byteLevelSymbols = this.preTokenizer.byteLevel ? Int32Array.from(byteLevelAlphabet(), (ch) => model.charId(ch.charCodeAt(0))) : null;
    this.byteLevelTable = this.decoderSpec.byteLevel ? byteLevelDecodeTable() : null;
    this.tokenBytesCache = new Array<Uint8Array | undefined>(size);
  }

  /**
   * From a tokenizer.json document (object or text), plus optionally the settings of
   * tokenizer_config.json / special_tokens_map.json (add_bos_token, bos_token, …).
   */
  static fromJSON(json: TokenizerJson | string, config: TokenizerConfigJson = {}): Tokenizer {
    const doc = typeof json === "string" ? parseTokenizerJson(json) : json;
    return new Tokenizer(definitionFromTokenizerJson(doc, config));
  }

  /** From the bytes of a sentencepiece BPE `tokenizer.model` (LLaMA's), plus optional config. */
  static fromSentencePiece(model: Uint8Array, config: TokenizerConfigJson = {}): Tokenizer {
    return new Tokenizer(definitionFromSentencePiece(parseSentencePieceModel(model), config));
  }

  /** Number of ids, added tokens included. */
  get vocabSize(): number {
    return this.idToTokenList.length;
  }

  get bosTokenId(): number | undefined {
    return this.specialTokens.bos === undefined ? undefined : this.tokenToIdMap.get(this.specialTokens.bos);
  }

  get eosTokenId(): number | undefined {
    return this.specialTokens.eos === undefined ? undefined : this.tokenToIdMap.get(this.specialTokens.eos);
  }

  get unkTokenId(): number | undefined {
    return this.specialTokens.unk === undefined ? undefined : this.tokenToIdMap.get(this.specialTokens.unk);
  }

  get padTokenId(): number | undefined {
    return this.specialTokens.pad === undefined ? undefined : this.tokenToIdMap.get(this.specialTokens.pad);
  }

  /** The ids `encode` adds before and after the text by default (LLaMA: BOS before). */
  get specialTokenTemplate(): Readonly<SpecialTokenTemplate> {
    return this.template;
  }

  /** Ids of special tokens (skipped by `decode(ids, { skipSpecialTokens: true })`). */
  get specialTokenIds(): number[] {
    return [...this.specialIds].sort((a, b) => a - b);
  }

  /** "byte-level" when words are spelled in GPT-2's byte alphabet, otherwise "sentencepiece" (▁ words). */
  get kind(): "sentencepiece" | "byte-level" {
    return this.preTokenizer.byteLevel ? "byte-level" : "sentencepiece";
  }

  idToToken(id: number): string | undefined {
    const token = this.idToTokenList[id];
    return token === undefined || token === "" ? undefined : token;
  }

  tokenToId(token: string): number | undefined {
    return this.tokenToIdMap.get(token);
  }

  isSpecialTokenId(id: number): boolean {
    return this.specialIds.has(id);
  }

  /** The tokenizer.json document this tokenizer was built from (or trained into). */
  toJSON(): TokenizerJson {
    return this.json;
  }

  /** Text → token ids. Never throws on any string (lone surrogates are read as U+FFFD). */
  encode(text: string, options: EncodeOptions = {}): number[] {
    const out: number[] = [];
    const template = this.templateFor(options);
    for (const id of template.prefix) out.push(id);
    this.encodeText(toWellFormed(text), options.parseSpecialTokens === true, out);
    for (const id of template.suffix) out.push(id);
    return out;
  }

  /** The token strings of `encode(text, options)` (for inspection and tests). */
  tokenize(text: string, options: EncodeOptions = {}): string[] {
    return this.encode(text, options).map((id) => this.idToTokenList[id] ?? "");
  }

  /** Token ids → text. Invalid UTF-8 from byte tokens becomes U+FFFD. */
  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const skip = options.skipSpecialTokens === true;
    // Two passes over the ids (sizes, then copy) instead of collecting per-token arrays: decoding
    // millions of ids then allocates one buffer and nothing per token.
    let total = 0;
    let first = true;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as number;
      if (skip && this.specialIds.has(id)) continue;
      total += this.tokenBytes(id, first).length;
      first = false;
    }
    const all = new Uint8Array(total);
    let at = 0;
    first = true;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as number;
      if (skip && this.specialIds.has(id)) continue;
      const bytes = this.tokenBytes(id, first);
      first = false;
      if (bytes.length === 1) all[at++] = bytes[0] as number;
      else {
        all.set(bytes, at);
        at += bytes.length;
      }
    }
    return this.stripLeading(UTF8.decode(all));
  }

  /**
   * The bytes token `id` contributes to decoded text: a byte-fallback or byte-level token's raw
   * bytes, otherwise the UTF-8 of its text (▁ shown as a space when the decoder says so). `first`:
   * the token opens the decoded text (HF's Metaspace decoder drops its ▁ altogether).
   */
  tokenBytes(id: number, first = false): Uint8Array {
    if (first && this.decoderSpec.dropMetaspaceInFirstToken) {
      const token = this.idToTokenList[id];
      if (token !== undefined && token.includes(METASPACE) && (this.model.byteOfId[id] ?? -1) < 0) return utf8Bytes(token.replaceAll(METASPACE, ""));
    }
    const cached = this.tokenBytesCache[id];
    if (cached !== undefined) return cached;
    const token = this.idToTokenList[id];
    if (!Number.isInteger(id) || token === undefined) {
      throw new RangeError(`decode: token id ${id} is out of range (vocabulary size ${this.vocabSize})`);
    }
    let bytes: Uint8Array | null = null;
    const byte = this.model.byteOfId[id] ?? -1;
    if (this.decoderSpec.byteFallback && byte >= 0) bytes = Uint8Array.of(byte);
    else if (this.byteLevelTable !== null) bytes = this.byteLevelBytes(token);
    bytes ??= utf8Bytes(this.decoderSpec.metaspace ? token.replaceAll(METASPACE, " ") : token);
    this.tokenBytesCache[id] = bytes;
    return bytes;
  }

  /** Leading spaces the decoder strips from decoded text (sentencepiece's dummy prefix). */
  get decodeStripsLeadingSpaces(): number {
    return this.decoderSpec.stripLeadingSpaces;
  }

  private stripLeading(text: string): string {
    let n = 0;
    while (n < this.decoderSpec.stripLeadingSpaces && text.charCodeAt(n) === SPACE) n++;
    return n === 0 ? text : text.slice(n);
  }

  // Byte-level tokens spell bytes with GPT-2's alphabet; a token with a character outside it (an
  // added token such as "<|endoftext|>" is inside it, but a hand-added "😀" is not) is taken as text.
  private byteLevelBytes(token: string): Uint8Array | null {
    const table = this.byteLevelTable as Int16Array;
    const bytes = new Uint8Array(token.length);
    for (let i = 0; i < token.length; i++) {
      const c = token.charCodeAt(i);
      const b = c < table.length ? (table[c] as number) : -1;
      if (b < 0) return null;
      bytes[i] = b;
    }
    return bytes;
  }

  private templateFor(options: EncodeOptions): SpecialTokenTemplate {
    if (options.addSpecialTokens === false) return { prefix: [], suffix: [] };
    const { addBos, addEos } = options;
    if (addBos === undefined && addEos === undefined) return this.template;
    let prefix = this.template.prefix;
    let suffix = this.template.suffix;
    const bos = this.bosTokenId;
    const eos = this.eosTokenId;
    if (addBos !== undefined) {
      if (bos === undefined) {
        if (addBos) throw new TokenizerFormatError("encode: addBos is set but the tokenizer has no BOS token");
      } else {
        prefix = prefix.filter((id) => id !== bos);
        if (addBos) prefix = [bos, ...prefix];
      }
    }
    if (addEos !== undefined) {
      if (eos === undefined) {
        if (addEos) throw new TokenizerFormatError("encode: addEos is set but the tokenizer has no EOS token");
      } else {
        suffix = suffix.filter((id) => id !== eos);
        if (addEos) suffix = [...suffix, eos];
      }
    }
    return { prefix, suffix };
  }

  // HF's order: split on added tokens matched in raw text, normalize each remaining piece, split on
  // added tokens matched in normalized text, then pre-tokenize and run the model on each piece.
  private encodeText(text: string, parseSpecial: boolean, out: number[]): void {
    const which = parseSpecial ? "all" : "plain";
    const raw = this.splitters.raw[which];
    const normalized = this.splitters.normalized[which];
    const segments: Segment[] = raw.isEmpty ? [text] : raw.split(text);
    segments.forEach((segment, i) => {
      if (typeof segment === "number") {
        out.push(segment);
        return;
      }
      const first = i === 0;
      if (normalized.isEmpty) {
        this.encodeSegment(segment, first, out);
        return;
      }
      normalized.split(this.normalizeFully(segment)).forEach((piece, j) => {
        if (typeof piece === "number") out.push(piece);
        else this.encodeNormalized(piece, first && j === 0, out);
      });
    });
  }

  /** The normalizer applied in full, ▁-escaping included (for matching normalized added tokens). */
  private normalizeFully(text: string): string {
    const s = this.normalize === null ? text : this.normalize(text);
    return this.escapesSpaces && s.length > 0 ? METASPACE + s.replaceAll(" ", METASPACE) : s;
  }

  private encodeSegment(segment: string, first: boolean, out: number[]): void {
    const s = this.normalize === null ? segment : this.normalize(segment);
    if (this.escapesSpaces) this.encodeMetaspace(s, s.length > 0, false, out);
    else this.encodePreTokenized(s, first, out);
  }

  private encodeNormalized(piece: string, first: boolean, out: number[]): void {
    if (this.escapesSpaces) this.encodeMetaspace(piece, false, false, out);
    else this.encodePreTokenized(piece, first, out);
  }

  private encodePreTokenized(text: string, first: boolean, out: number[]): void {
    if (text.length === 0) return;
    const pt = this.preTokenizer;
    if (pt.metaspace !== null) {
      const { prepend, split } = pt.metaspace;
      // HF's Metaspace does not add ▁ in front of text that already starts with one.
      const prefix = (prepend === "always" || (prepend === "first" && first)) && !isSpaceLike(text.charCodeAt(0));
      this.encodeMetaspace(text, prefix, split, out);
      return;
    }
    const s = pt.addPrefixSpace && text.charCodeAt(0) !== SPACE ? " " + text : text;
    if (pt.splits.length === 0) this.encodeWordCached(s, out);
    else this.splitAndEncode(s, pt.splits, 0, out);
  }

  private splitAndEncode(text: string, splits: RegexSplit[], level: number, out: number[]): void {
    const split = splits[level] as RegexSplit;
    const last = level === splits.length - 1;
    applySplit(text, split, (piece) => {
      if (last) this.encodeWordCached(piece, out);
      else this.splitAndEncode(piece, splits, level + 1, out);
    });
  }

  private encodeWordCached(word: string, out: number[]): void {
    const cached = this.cache.get(word);
    if (cached !== undefined) {
      for (let i = 0; i < cached.length; i++) out.push(cached[i] as number);
      return;
    }
    const ids: number[] = [];
    if (this.byteLevelSymbols === null) this.model.encodeWord(word, ids);
    else this.model.encodeByteLevelWord(word, this.byteLevelSymbols, ids);
    this.cache.set(word, ids);
    for (const id of ids) out.push(id);
  }

  /**
   * Encodes sentencepiece-style text in which both " " and "▁" stand for ▁, with a virtual ▁ in
   * front when `prefix`. Instead of handing the model the whole line as one word (which is what the
   * LLaMA tokenizer.json literally says: no pre-tokenizer), we cut it into chunks of "▁-run followed
   * by non-▁ characters" and cache each chunk. That is exact whenever no vocabulary entry has ▁
   * right after another character (checked at load): no merge can then cross the cut, and merges on
   * either side never interact. `perSpace` cuts before every ▁ instead (HF Metaspace with split).
   */
  private encodeMetaspace(s: string, prefix: boolean, perSpace: boolean, out: number[]): void {
    const n = s.length;
    if (n === 0 && !prefix) return;
    if (!perSpace && !this.spaceRunsAreSeparable) {
      this.encodeWordCached((prefix ? METASPACE : "") + s.replaceAll(" ", METASPACE), out);
      return;
    }
    let start = 0;
    if (prefix && (n === 0 || (perSpace && isSpaceLike(s.charCodeAt(0))))) {
      this.encodeChunk(" ", out);
      prefix = false;
    }
    while (start < n) {
      let i = start;
      if (perSpace) {
        if (isSpaceLike(s.charCodeAt(i))) i++;
      } else {
        while (i < n && isSpaceLike(s.charCodeAt(i))) i++;
      }
      while (i < n && !isSpaceLike(s.charCodeAt(i))) i++;
      const chunk = s.slice(start, i);
      this.encodeChunk(prefix ? " " + chunk : chunk, out);
      prefix = false;
      start = i;
    }
  }

  private encodeChunk(chunk: string, out: number[]): void {
    const cached = this.cache.get(chunk);
    if (cached !== undefined) {
      for (let i = 0; i < cached.length; i++) out.push(cached[i] as number);
      return;
    }
    const ids: number[] = [];
    this.model.encodeWord(chunk.replaceAll(" ", METASPACE), ids);
    this.cache.set(chunk, ids);
    for (const id of ids) out.push(id);
  }
}
