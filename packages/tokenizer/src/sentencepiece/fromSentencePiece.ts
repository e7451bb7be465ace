import { bosPostProcessor } from "../hf/bosTemplate.js";
import { TokenizerFormatError } from "../errors.js";
import type { AddedTokenJson, NormalizerJson, TokenizerConfigJson, TokenizerJson } from "../hf/tokenizerJson.js";
import { definitionFromTokenizerJson } from "../hf/fromTokenizerJson.js";
import { mergesToJson } from "../hf/mergesJson.js";
import { BpeModel, type BpeMergeRule } from "../model/bpeModel.js";
import { METASPACE } from "../pipeline/normalizer.js";
import type { TokenizerDefinition } from "../tokenizer.js";
import { ModelType, PieceType, type SentencePieceModel } from "./modelProto.js";

const MODEL_TYPE_NAMES: Record<number, string> = { 1: "UNIGRAM", 2: "BPE", 3: "WORD", 4: "CHAR" };

/** Piece types that take part in BPE merging (sentencepiece's `pieces_` map). */
function isMergeable(type: PieceType): boolean {
  return type === PieceType.normal || type === PieceType.unused;
}

/**
 * Derives the merge rules a sentencepiece BPE model implies. Sentencepiece stores no merge list:
 * at encode time it merges any adjacent pair whose concatenation is a piece, highest piece score
 * first. So every split of a piece into two pieces is a rule, ranked by the score of the result;
 * pieces with equal scores share a rank, which keeps sentencepiece's leftmost-on-tie order.
 */
export function sentencePieceMerges(model: SentencePieceModel): BpeMergeRule[] {
  const idOf = new Map<string, number>();
  model.pieces.forEach((p, id) => {
    if (isMergeable(p.type) && !idOf.has(p.piece)) idOf.set(p.piece, id);
  });
  const distinctScores = [...new Set(model.pieces.filter((p) => isMergeable(p.type)).map((p) => p.score))].sort((a, b) => b - a);
  const rankOfScore = new Map(distinctScores.map((s, i) => [s, i]));
  const rules: BpeMergeRule[] = [];
  model.pieces.forEach((p, result) => {
    if (!isMergeable(p.type)) return;
    const chars = Array.from(p.piece);
    if (chars.length < 2) return;
    const rank = rankOfScore.get(p.score) as number;
    let left = "";
    for (let k = 1; k < chars.length; k++) {
      left += chars[k - 1] as string;
      const l = idOf.get(left);
      if (l === undefined) continue;
      const r = idOf.get(chars.slice(k).join(""));
      if (r !== undefined) rules.push({ left: l, right: r, result, rank });
    }
  });
  return rules;
}

function checkSupported(model: SentencePieceModel, source: string): void {
  if (model.modelType !== ModelType.bpe) {
    throw new TokenizerFormatError(`${source}: trainer_spec.model_type ${MODEL_TYPE_NAMES[model.modelType] ?? model.modelType} is not supported (expected BPE)`);
  }
  if (model.treatWhitespaceAsSuffix) throw new TokenizerFormatError(`${source}: trainer_spec.treat_whitespace_as_suffix is not supported (expected false)`);
  if (!model.escapeWhitespaces) throw new TokenizerFormatError(`${source}: normalizer_spec.escape_whitespaces false is not supported (expected true)`);
  if (model.hasPrecompiledCharsmap && model.normalizerName !== "identity") {
    throw new TokenizerFormatError(
      `${source}: normalizer_spec.name ${JSON.stringify(model.normalizerName)} with a precompiled charsmap is not supported (expected "identity", as LLaMA uses)`,
    );
  }
}

/**
 * Converts a sentencepiece BPE model into the equivalent tokenizer.json (the same document HF's
 * LlamaConverter writes: Prepend ▁ + Replace normalizer, byte-fallback BPE, ▁-aware decoder,
 * BOS template), keeping sentencepiece's own score-ordered merging for the model itself.
 */
export function definitionFromSentencePiece(model: SentencePieceModel, config: TokenizerConfigJson = {}, source = "tokenizer.model"): TokenizerDefinition {
  checkSupported(model, source);
  const rules = sentencePieceMerges(model);
  const vocabList = model.pieces.map((p) => p.piece);
  const unusedSplits = new Map<number, readonly [number, number]>();
  for (const r of rules) {
    if (model.pieces[r.result]?.type === PieceType.unused && !unusedSplits.has(r.result)) unusedSplits.set(r.result, [r.left, r.right]);
  }
  const unkId = model.unkId >= 0 && model.unkId < vocabList.length ? model.unkId : null;
  const bpe = new BpeModel({
    vocab: vocabList,
    merges: rules,
    unkId,
    byteFallback: model.byteFallback,
    fuseUnk: true,
    isTextPiece: (id) => {
      const t = model.pieces[id]?.type;
      return t === PieceType.normal || t === PieceType.unused || t === PieceType.userDefined;
    },
    ...(unusedSplits.size > 0 ? { unusedSplits } : {}),
  });

  const addedTokens: AddedTokenJson[] = [];
  model.pieces.forEach((p, id) => {
    if (p.type === PieceType.control || p.type === PieceType.unknown) {
      addedTokens.push({ id, content: p.piece, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true });
    } else if (p.type === PieceType.userDefined) {
      addedTokens.push({ id, content: p.piece, single_word: false, lstrip: false, rstrip: false, normalized: false, special: false });
    }
  });

  const normalizers: NormalizerJson[] = [];
  if (model.removeExtraWhitespaces) {
    normalizers.push({ type: "Replace", pattern: { Regex: "^ +| +$" }, content: "" });
    normalizers.push({ type: "Replace", pattern: { Regex: " {2,}" }, content: " " });
  }
  if (model.addDummyPrefix) normalizers.push({ type: "Prepend", prepend: METASPACE });
  normalizers.push({ type: "Replace", pattern: { String: " " }, content: METASPACE });

  const bos = model.bosId >= 0 ? model.pieces[model.bosId]?.piece : undefined;
  const orderedRules = [...rules].sort((a, b) => a.rank - b.rank || a.result - b.result || a.left - b.left);
  const json: TokenizerJson = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: { type: "Sequence", normalizers },
    pre_tokenizer: null,
    post_processor: bosPostProcessor(bos, model.bosId),
    decoder: {
      type: "Sequence",
      decoders: [
        { type: "Replace", pattern: { String: METASPACE }, content: " " },
        ...(model.byteFallback ? [{ type: "ByteFallback" as const }] : []),
        { type: "Fuse" },
        ...(model.addDummyPrefix ? [{ type: "Strip" as const, content: " ", start: 1, stop: 0 }] : []),
      ],
    },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: unkId === null ? null : (vocabList[unkId] as string),
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: model.byteFallback,
      ignore_merges: false,
      vocab: Object.fromEntries(vocabList.map((p, id) => [p, id])),
      merges: mergesToJson(orderedRules.map((r) => [vocabList[r.left] as string, vocabList[r.right] as string] as const)),
    },
  };
  const names: TokenizerConfigJson = {
    ...(bos === undefined ? {} : { bos_token: bos }),
    ...(model.eosId >= 0 && model.pieces[model.eosId] ? { eos_token: model.pieces[model.eosId]?.piece } : {}),
    ...(unkId === null ? {} : { unk_token: vocabList[unkId] }),
    ...(model.padId >= 0 && model.pieces[model.padId] ? { pad_token: model.pieces[model.padId]?.piece } : {}),
    ...config,
  };
  return definitionFromTokenizerJson(json, names, source, bpe);
}
