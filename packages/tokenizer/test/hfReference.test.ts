import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { Tokenizer, type TokenizerJson } from "@densessm/tokenizer";
import { fixturesDir, llamaDir } from "./helpers.js";

// Reference ids written by Python `tokenizers` (see test/fixtures/hf_expected.py) for the tokenizers
// our trainer produced (test/fixtures/tiny-*) and for LLaMA's tokenizer.json.
interface Row {
  plain: number[];
  full: number[];
  decoded: string;
}
const cases = JSON.parse(readFileSync(resolve(fixturesDir, "cases.json"), "utf8")) as string[];
const expected = JSON.parse(readFileSync(resolve(fixturesDir, "hf-expected.json"), "utf8")) as { results: Record<string, Row[]> };

const loadJson = (path: string): TokenizerJson => JSON.parse(readFileSync(path, "utf8")) as TokenizerJson;
const baseJson: Record<string, () => TokenizerJson> = {
  "tiny-byte-level": () => loadJson(resolve(fixturesDir, "tiny-byte-level/tokenizer.json")),
  "tiny-sentencepiece": () => loadJson(resolve(fixturesDir, "tiny-sentencepiece/tokenizer.json")),
  llama: () => loadJson(resolve(llamaDir, "tokenizer.json")),
};
// Other pipeline spellings of the same vocabularies (see variants.json and hf_expected.py).
const variants = JSON.parse(readFileSync(resolve(fixturesDir, "variants.json"), "utf8")) as Record<string, Partial<TokenizerJson> & { base: string }>;

const sources: Array<[string, () => Tokenizer]> = [
  ...Object.entries(baseJson).map(([name, load]): [string, () => Tokenizer] => [name, () => Tokenizer.fromJSON(load())]),
  ...Object.entries(variants).map(([name, { base, ...change }]): [string, () => Tokenizer] => [
    name,
    () => Tokenizer.fromJSON({ ...(baseJson[base] as () => TokenizerJson)(), ...change }),
  ]),
];

describe.each(sources)("%s agrees with Hugging Face tokenizers (Python)", (name, load) => {
  const rows = expected.results[name];
  if (rows === undefined || rows.length !== cases.length) throw new Error(`hf-expected.json has no complete results for ${name}`);

  it("plain encode (no special tokens, special-token text is plain text)", () => {
    const tok = load();
    cases.forEach((text, i) => {
      // HF always matches special tokens spelled in the text; only compare texts without any.
      if (/<s>|<\/s>|<unk>|<\|endoftext\|>/.test(text)) return;
      expect(tok.encode(text, { addSpecialTokens: false }), JSON.stringify(text)).toEqual(rows[i]?.plain);
    });
  });

  it("encode with special tokens added and parsed, as HF does by default", () => {
    const tok = load();
    cases.forEach((text, i) => expect(tok.encode(text, { parseSpecialTokens: true }), JSON.stringify(text)).toEqual(rows[i]?.full));
  });

  it("decode", () => {
    const tok = load();
    cases.forEach((text, i) => {
      const row = rows[i] as Row;
      if (/<s>|<\/s>|<unk>|<\|endoftext\|>/.test(text)) return;
      expect(tok.decode(row.plain), JSON.stringify(text)).toBe(row.decoded);
    });
  });
});
