import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import protobuf from "protobufjs";
import { describe, expect, it } from "vitest";
import { parseTokenizerJson, Tokenizer, TokenizerFormatError, type TokenizerJson } from "@densessm/tokenizer";
import { fixturesDir } from "./helpers.js";

const base = JSON.parse(readFileSync(resolve(fixturesDir, "tiny-byte-level/tokenizer.json"), "utf8")) as TokenizerJson;
const withChange = (change: Partial<TokenizerJson>): TokenizerJson => ({ ...structuredClone(base), ...change });

function expectFormatError(f: () => unknown, message: string): void {
  expect(f).toThrow(TokenizerFormatError);
  expect(f).toThrow(message);
}

describe("clear errors for tokenizer.json", () => {
  it("unsupported model type", () => {
    expectFormatError(() => Tokenizer.fromJSON(withChange({ model: { type: "WordPiece", vocab: {} } })), 'tokenizer.json: model.type "WordPiece" is not supported (expected BPE)');
  });

  it("not JSON / not an object", () => {
    expectFormatError(() => parseTokenizerJson("{oops", "my/tokenizer.json"), "my/tokenizer.json: not valid JSON");
    expectFormatError(() => Tokenizer.fromJSON("[]"), "tokenizer.json: expected a JSON object at the top level");
  });

  it("merges that use unknown tokens", () => {
    const model = { ...(base.model as { merges: string[] }), merges: ["Ġ zzz"] };
    expectFormatError(() => Tokenizer.fromJSON(withChange({ model: model as TokenizerJson["model"] })), 'model.merges[0] ("Ġ" + "zzz") uses "zzz", which is not in model.vocab');
  });

  it("unsupported components name the field", () => {
    expectFormatError(() => Tokenizer.fromJSON(withChange({ normalizer: { type: "Precompiled", precompiled_charsmap: "" } })), 'normalizer: normalizer type "Precompiled" is not supported');
    expectFormatError(() => Tokenizer.fromJSON(withChange({ pre_tokenizer: { type: "BertPreTokenizer" } })), 'pre_tokenizer: pre-tokenizer type "BertPreTokenizer" is not supported');
    expectFormatError(() => Tokenizer.fromJSON(withChange({ decoder: { type: "WordPiece" } })), 'decoder: decoder type "WordPiece" is not supported');
    expectFormatError(
      () => Tokenizer.fromJSON(withChange({ pre_tokenizer: { type: "Split", pattern: { Regex: "a++" }, behavior: "Isolated" } })),
      'pre_tokenizer.pattern: regex "a++" uses a possessive quantifier, which is not supported',
    );
  });
});

// Builds a tiny ModelProto with protobufjs' writer (field numbers of sentencepiece_model.proto).
function modelProto(modelType: number): Uint8Array {
  const w = protobuf.Writer.create();
  for (const [piece, type] of [["<unk>", 2], ["a", 1], ["b", 1]] as const) {
    w.uint32((1 << 3) | 2).fork().uint32((1 << 3) | 2).string(piece).uint32((2 << 3) | 5).float(0).uint32((3 << 3) | 0).int32(type).ldelim();
  }
  w.uint32((2 << 3) | 2).fork().uint32((3 << 3) | 0).int32(modelType).ldelim();
  return w.finish();
}

describe("clear errors for tokenizer.model", () => {
  it("a unigram model", () => {
    expectFormatError(() => Tokenizer.fromSentencePiece(modelProto(1)), "tokenizer.model: trainer_spec.model_type UNIGRAM is not supported (expected BPE)");
  });

  it("a tiny BPE model loads", () => {
    const tok = Tokenizer.fromSentencePiece(modelProto(2));
    expect(tok.tokenize("ab", { addSpecialTokens: false })).toEqual(["<unk>", "a", "b"]); // "▁" is unknown here
  });

  it("bytes that are not a ModelProto", () => {
    expectFormatError(() => Tokenizer.fromSentencePiece(new TextEncoder().encode('{"model": {}}')), "tokenizer.model:");
  });
});
