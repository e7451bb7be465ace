import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { fromPretrained, Tokenizer } from "@densessm/tokenizer";
import { llamaDir, readLlamaFixture, wikitextPath } from "./helpers.js";

// sentencepiece's plain encode of LLaMA's tokenizer.model (no BOS), recorded in test/fixtures/llama-sentencepiece.jsonl.
const cases = readLlamaFixture();

let fromModel: Tokenizer;
let fromJson: Tokenizer;

beforeAll(() => {
  fromModel = Tokenizer.fromSentencePiece(readFileSync(resolve(llamaDir, "tokenizer.model")));
  fromJson = Tokenizer.fromJSON(readFileSync(resolve(llamaDir, "tokenizer.json"), "utf8"));
});

describe.each([
  ["tokenizer.model", () => fromModel],
  ["tokenizer.json", () => fromJson],
])("LLaMA sentencepiece fixture from %s", (_source, get) => {
  it(`matches sentencepiece's ids for all ${cases.length} cases`, () => {
    const tok = get();
    const mismatches = cases
      .map((c, i) => ({ i, text: c.text, expected: c.ids, actual: tok.encode(c.text, { addSpecialTokens: false }) }))
      .filter((r) => JSON.stringify(r.actual) !== JSON.stringify(r.expected));
    expect(mismatches).toEqual([]);
  });

  it("matches sentencepiece's pieces", () => {
    const tok = get();
    for (const c of cases) expect(tok.tokenize(c.text, { addSpecialTokens: false })).toEqual(c.pieces);
  });

  it("decodes every case back to its text", () => {
    const tok = get();
    for (const c of cases) {
      expect(tok.decode(c.ids)).toBe(c.text);
      expect(tok.decode(tok.encode(c.text), { skipSpecialTokens: true })).toBe(c.text);
    }
  });

  it("adds BOS by default and only then", () => {
    const tok = get();
    expect(tok.bosTokenId).toBe(1);
    expect(tok.eosTokenId).toBe(2);
    expect(tok.unkTokenId).toBe(0);
    expect(tok.encode("Hello world")).toEqual([1, 15043, 3186]);
    expect(tok.encode("Hello world", { addSpecialTokens: false })).toEqual([15043, 3186]);
  });
});

describe("LLaMA sources agree", () => {
  it("tokenizer.model and tokenizer.json give identical ids on wikitext lines", () => {
    const lines = readFileSync(wikitextPath, "utf8").split("\n").slice(0, 2000);
    for (const line of lines) expect(fromModel.encode(line)).toEqual(fromJson.encode(line));
  });

  it("agree with parseSpecialTokens, matching HF tokenizers' legacy LLaMA behaviour", () => {
    // Reference ids from Python tokenizers 0.23.2 on the same tokenizer.json (add_special_tokens=False).
    const expected: Array<[string, number[]]> = [
      ["Hello <s> x", [15043, 1, 921]],
      ["<s>Hello", [1, 10994]],
      ["a</s>b", [263, 829, 29879, 29958, 29890]],
      [" <s> ", [29871, 1, 29871]],
      ["<s>", [1]],
      ["x<unk>", [921, 29966, 2960, 29958]],
      ["<s><s>", [1, 29966, 29879, 29958]],
      ["Hello  <s>  x", [15043, 29871, 1, 29871, 921]],
    ];
    for (const [text, ids] of expected) {
      expect(fromJson.encode(text, { addSpecialTokens: false, parseSpecialTokens: true })).toEqual(ids);
      expect(fromModel.encode(text, { addSpecialTokens: false, parseSpecialTokens: true })).toEqual(ids);
    }
  });

  it("fromPretrained reads the directory (tokenizer.json + tokenizer_config.json)", async () => {
    const tok = await fromPretrained(llamaDir);
    expect(tok.encode("Hello world")).toEqual([1, 15043, 3186]);
    expect(tok.specialTokens).toEqual({ bos: "<s>", eos: "</s>", unk: "<unk>" });
    const viaModel = await fromPretrained(llamaDir, { prefer: "tokenizer.model" });
    expect(viaModel.encode(" Hello  world ")).toEqual(tok.encode(" Hello  world "));
    const withEos = await fromPretrained(llamaDir, { config: { add_eos_token: true } });
    expect(withEos.encode("Hello")).toEqual([1, 15043, 2]);
  });
});
