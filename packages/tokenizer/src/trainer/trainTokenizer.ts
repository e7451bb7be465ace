import { bosPostProcessor } from "../hf/bosTemplate.js";
import { TokenizerFormatError } from "../errors.js";
import { definitionFromTokenizerJson } from "../hf/fromTokenizerJson.js";
import { mergesToJson } from "../hf/mergesJson.js";
import type { AddedTokenJson, TokenizerConfigJson, TokenizerJson } from "../hf/tokenizerJson.js";
import { METASPACE } from "../pipeline/normalizer.js";
import { Tokenizer } from "../tokenizer.js";
import { byteLevelAlphabet, bytePiece, utf8Bytes } from "../unicode.js";
import { trainBpe, type TrainingWord } from "./bpeTrainer.js";
import { countByteLevelWords, countMetaspaceWords, type WordCounts } from "./wordCounts.js";

export interface TrainTokenizerOptions {
  /** Size of the final vocabulary, special and byte tokens included. */
  vocabSize: number;
  /**
   * "sentencepiece" (default): LLaMA-style ▁ words with `<0xNN>` byte fallback for rare characters.
   * "byte-level": GPT-2 / GPT-NeoX style, every byte is a token, no unknowns.
   */
  kind?: "sentencepiece" | "byte-level";
  /**
   * Special tokens, given the first ids. Default: ["<unk>", "<s>", "</s>"] (sentencepiece; the
   * first is unk, then BOS, then EOS) or ["<|endoftext|>"] (byte-level; BOS and EOS).
   */
  specialTokens?: string[];
  /** Share of character occurrences the alphabet must cover; the rest fall back to bytes (default 0.9995). */
  characterCoverage?: number;
  /** Pairs seen fewer times are not merged (default 2); on a small corpus training may then stop below vocabSize. */
  minFrequency?: number;
  /** Longest token in characters (default 16, as sentencepiece). */
  maxTokenLength?: number;
}

const DEFAULT_SPECIALS = { sentencepiece: ["<unk>", "<s>", "</s>"], "byte-level": ["<|endoftext|>"] } as const;

function specialAddedTokens(specials: readonly string[], normalized: boolean): AddedTokenJson[] {
  return specials.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized, special: true }));
}

function checkOptions(options: TrainTokenizerOptions, specials: readonly string[]): void {
  if (!Number.isInteger(options.vocabSize) || options.vocabSize <= 0) {
    throw new TokenizerFormatError(`trainTokenizer: vocabSize must be a positive integer, got ${options.vocabSize}`);
  }
  if (new Set(specials).size !== specials.length || specials.some((s) => s.length === 0)) {
    throw new TokenizerFormatError(`trainTokenizer: specialTokens must be distinct non-empty strings`);
  }
  const coverage = options.characterCoverage ?? 0.9995;
  if (!(coverage > 0 && coverage <= 1)) throw new TokenizerFormatError(`trainTokenizer: characterCoverage must be in (0, 1], got ${coverage}`);
}

// Most frequent characters first, until `coverage` of all character occurrences is covered.
function chooseAlphabet(counts: WordCounts, coverage: number): string[] {
  const chars = new Map<string, number>();
  let total = 0;
  for (const [word, n] of counts) {
    for (const ch of word) {
      chars.set(ch, (chars.get(ch) ?? 0) + n);
      total += n;
    }
  }
  const sorted = [...chars].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const alphabet: string[] = [];
  let covered = 0;
  for (const [ch, n] of sorted) {
    if (covered >= coverage * total && ch !== METASPACE) continue;
    alphabet.push(ch);
    covered += n;
  }
  if (!alphabet.includes(METASPACE)) alphabet.push(METASPACE);
  return alphabet;
}

/** The BPE trainer on counted words, with the options' defaults (min frequency 2, tokens up to 16 characters). */
function runBpe(words: TrainingWord[], base: string[], options: TrainTokenizerOptions, reserved: Iterable<string>) {
  return trainBpe({ words, tokens: base, vocabSize: options.vocabSize, minFrequency: options.minFrequency ?? 2, maxTokenLength: options.maxTokenLength ?? 16, reserved: new Set(reserved) });
}

function trainSentencePiece(counts: WordCounts, options: TrainTokenizerOptions, specials: readonly string[]): { json: TokenizerJson; config: TokenizerConfigJson } {
  const bytes = Array.from({ length: 256 }, (_, b) => bytePiece(b));
  const reserved = [...specials, ...bytes];
  const alphabet = chooseAlphabet(counts, options.characterCoverage ?? 0.9995).filter((ch) => !reserved.includes(ch));
  const base = [...reserved, ...alphabet];
  if (options.vocabSize < base.length) {
    throw new TokenizerFormatError(
      `trainTokenizer: vocabSize ${options.vocabSize} is too small: the ${specials.length} special, 256 byte and ${alphabet.length} character tokens alone need ${base.length}`,
    );
  }
  const idOf = new Map(base.map((t, i) => [t, i]));
  const words: TrainingWord[] = [];
  for (const [word, count] of counts) words.push({ symbols: Array.from(word, (ch) => idOf.get(ch) ?? -1), count });
  const { tokens, merges } = runBpe(words, base, options, reserved);
  const [unk, bos, eos] = specials;
  const bosId = bos === undefined ? -1 : specials.indexOf(bos); // -1 when absent, as in SentencePiece
  const json: TokenizerJson = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: specialAddedTokens(specials, true),
    normalizer: {
      type: "Sequence",
      normalizers: [
        { type: "Prepend", prepend: METASPACE },
        { type: "Replace", pattern: { String: " " }, content: METASPACE },
      ],
    },
    pre_tokenizer: null,
    post_processor: bosPostProcessor(bos, bosId),
    decoder: {
      type: "Sequence",
      decoders: [
        { type: "Replace", pattern: { String: METASPACE }, content: " " },
        { type: "ByteFallback" },
        { type: "Fuse" },
        { type: "Strip", content: " ", start: 1, stop: 0 },
      ],
    },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: unk ?? null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab: Object.fromEntries(tokens.map((t, i) => [t, i])),
      merges: mergesToJson(merges.map(([l, r]) => [tokens[l] as string, tokens[r] as string] as const)),
    },
  };
  const config: TokenizerConfigJson = {
    add_bos_token: bos !== undefined,
    add_eos_token: false,
    ...(bos === undefined ? {} : { bos_token: bos }),
    ...(eos === undefined ? {} : { eos_token: eos }),
    ...(unk === undefined ? {} : { unk_token: unk }),
  };
  return { json, config };
}

function trainByteLevel(counts: WordCounts, options: TrainTokenizerOptions, specials: readonly string[]): { json: TokenizerJson; config: TokenizerConfigJson } {
  const alphabet = byteLevelAlphabet();
  const base = [...specials, ...alphabet.filter((ch) => !specials.includes(ch))];
  if (options.vocabSize < base.length) {
    throw new TokenizerFormatError(`trainTokenizer: vocabSize ${options.vocabSize} is too small: the ${specials.length} special and 256 byte tokens alone need ${base.length}`);
  }
  const idOf = new Map(base.map((t, i) => [t, i]));
  const byteIds = alphabet.map((ch) => idOf.get(ch) as number);
  const words: TrainingWord[] = [];
  for (const [word, count] of counts) words.push({ symbols: Array.from(utf8Bytes(word), (b) => byteIds[b] as number), count });
  const { tokens, merges } = runBpe(words, base, options, specials);
  const byteLevel = { add_prefix_space: false, trim_offsets: true, use_regex: true };
  const json: TokenizerJson = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: specialAddedTokens(specials, false),
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", ...byteLevel },
    post_processor: { type: "ByteLevel", ...byteLevel },
    decoder: { type: "ByteLevel", ...byteLevel },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(tokens.map((t, i) => [t, i])),
      merges: mergesToJson(merges.map(([l, r]) => [tokens[l] as string, tokens[r] as string] as const)),
    },
  };
  const eot = specials[0];
  const config: TokenizerConfigJson = {
    add_bos_token: false,
    add_eos_token: false,
    ...(eot === undefined ? {} : { bos_token: eot, eos_token: eot }),
  };
  return { json, config };
}

/**
 * Learns a BPE tokenizer from text. `corpus` is one string or any iterable of documents (a file's
 * lines, an array of texts). The result encodes and decodes at once and `saveTokenizer` writes it
 * as a tokenizer.json (plus tokenizer_config.json) that Hugging Face tokenizers also read.
 */
export function trainTokenizer(corpus: string | Iterable<string>, options: TrainTokenizerOptions): Tokenizer {
  const kind = options.kind ?? "sentencepiece";
  if (kind !== "sentencepiece" && kind !== "byte-level") {
    throw new TokenizerFormatError(`trainTokenizer: kind ${JSON.stringify(kind)} is not supported (expected "sentencepiece" or "byte-level")`);
  }
  const specials = options.specialTokens ?? DEFAULT_SPECIALS[kind];
  checkOptions(options, specials);
  const documents = typeof corpus === "string" ? [corpus] : corpus;
  const counts = kind === "sentencepiece" ? countMetaspaceWords(documents) : countByteLevelWords(documents);
  const { json, config } = kind === "sentencepiece" ? trainSentencePiece(counts, options, specials) : trainByteLevel(counts, options, specials);
  return new Tokenizer(definitionFromTokenizerJson(json, config, "trained tokenizer"));
}
