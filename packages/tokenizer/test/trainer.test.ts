import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { fromPretrained, saveTokenizer, trainTokenizer, TokenizerFormatError, type TokenizerJson } from "@densessm/tokenizer";
import { wikitextPath } from "./helpers.js";

// The first 300 wikitext lines are held out; the trainer learns from the other 1700 (about 0.5 MB).
const lines = readFileSync(wikitextPath, "utf8").split("\n");
const heldOut = lines.slice(0, 300);
const corpus = lines.slice(300).join("\n");
const tmp = mkdtempSync(join(tmpdir(), "densessm-tokenizer-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.each(["sentencepiece", "byte-level"] as const)("trainTokenizer (%s)", (kind) => {
  const started = performance.now();
  const tok = trainTokenizer(corpus, { vocabSize: 4000, kind });
  const seconds = (performance.now() - started) / 1000;

  it("learns a 4k vocabulary from half a megabyte of text in seconds", () => {
    expect(corpus.length).toBeGreaterThan(450_000);
    expect(tok.vocabSize).toBe(4000);
    expect(seconds).toBeLessThan(20);
    // A real vocabulary: common words are single tokens ("▁the" / "Ġthe").
    expect(tok.encode(kind === "sentencepiece" ? "the" : " the", { addSpecialTokens: false })).toHaveLength(1);
  });

  it("round-trips text, including characters it never saw", () => {
    for (const line of [...heldOut, "🦙 naïve 日本語 \u0000 tab\there", "  two  spaces  "]) {
      expect(tok.decode(tok.encode(line), { skipSpecialTokens: true })).toBe(line);
    }
  });

  it("saves a tokenizer.json that loads back with identical ids", async () => {
    const dir = join(tmp, kind);
    const files = await saveTokenizer(tok, dir);
    expect(files.map((f) => f.slice(dir.length + 1))).toEqual(["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]);
    const back = await fromPretrained(dir);
    for (const line of heldOut) expect(back.encode(line)).toEqual(tok.encode(line));
    expect(back.specialTokens).toEqual(tok.specialTokens);
  });

  it("the saved tokenizer.json is read by @huggingface/tokenizers with identical ids and text", async () => {
    const dir = join(tmp, `${kind}-hf`);
    await saveTokenizer(tok, dir);
    const json = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8")) as TokenizerJson;
    const config = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8")) as Record<string, unknown>;
    expect(json.model.type).toBe("BPE");
    const hf = new HfTokenizer(json as never, config);
    for (const line of heldOut) {
      if (line.length === 0) continue;
      const ids = tok.encode(line, { parseSpecialTokens: true });
      expect(hf.encode(line).ids).toEqual(ids);
      expect(hf.decode(ids, { skip_special_tokens: true, clean_up_tokenization_spaces: false })).toBe(tok.decode(ids, { skipSpecialTokens: true }));
    }
  });
});

describe("trainTokenizer options", () => {
  it("is deterministic", () => {
    const a = trainTokenizer(corpus.slice(0, 100_000), { vocabSize: 600 });
    const b = trainTokenizer(corpus.slice(0, 100_000), { vocabSize: 600 });
    expect(JSON.stringify(a.toJSON())).toBe(JSON.stringify(b.toJSON()));
  });

  it("accepts documents and custom special tokens", () => {
    const tok = trainTokenizer(corpus.slice(0, 50_000).split("\n"), { vocabSize: 500, kind: "byte-level", specialTokens: ["<|endoftext|>", "<|pad|>"] });
    expect(tok.tokenToId("<|endoftext|>")).toBe(0);
    expect(tok.tokenToId("<|pad|>")).toBe(1);
    expect(tok.specialTokenIds).toEqual([0, 1]);
  });

  it("never learns a special token or a byte piece from text that spells one", () => {
    const text = "<s> <0x41> </s> <|endoftext|> ".repeat(200);
    for (const kind of ["sentencepiece", "byte-level"] as const) {
      const tok = trainTokenizer(text, { vocabSize: 400, kind });
      const vocab = Object.keys((tok.toJSON().model as { vocab: Record<string, number> }).vocab);
      expect(new Set(vocab).size).toBe(vocab.length);
      const ids = tok.encode(text, { addSpecialTokens: false });
      expect(ids.some((id) => tok.isSpecialTokenId(id))).toBe(false);
      expect(tok.decode(ids)).toBe(text);
    }
  });

  it("rejects a vocabulary too small for the base alphabet", () => {
    expect(() => trainTokenizer("hello world", { vocabSize: 100 })).toThrow(TokenizerFormatError);
    expect(() => trainTokenizer("hello world", { vocabSize: 100 })).toThrow(/vocabSize 100 is too small/);
    expect(() => trainTokenizer("hello", { vocabSize: 0 })).toThrow(/vocabSize must be a positive integer/);
  });
});
