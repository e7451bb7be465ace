import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { DecodeStream, fromPretrained, Tokenizer, type TokenizerJson } from "@densessm/tokenizer";
import { fixturesDir, llamaDir, randomText, rng } from "./helpers.js";

let llama: Tokenizer;
let byteLevel: Tokenizer;
let llamaMetaspace: Tokenizer;

beforeAll(async () => {
  llama = await fromPretrained(llamaDir);
  byteLevel = await fromPretrained(resolve(fixturesDir, "tiny-byte-level"));
  // LLaMA spelled with HF's Metaspace pre-tokenizer and decoder (whose first-token rule differs).
  const variants = JSON.parse(readFileSync(resolve(fixturesDir, "variants.json"), "utf8")) as Record<string, Partial<TokenizerJson>>;
  const { base: _base, ...change } = variants["llama-metaspace-first"] as Partial<TokenizerJson> & { base: string };
  llamaMetaspace = Tokenizer.fromJSON({ ...llama.toJSON(), ...change });
});

function streamAll(tok: Tokenizer, ids: number[], skipSpecialTokens = false): string[] {
  const stream = new DecodeStream(tok, { skipSpecialTokens });
  const pieces = ids.map((id) => stream.push(id));
  pieces.push(stream.flush());
  return pieces;
}

describe("DecodeStream", () => {
  it("holds back byte-fallback pieces until the character is complete", () => {
    // 🦙 is four byte-fallback tokens for LLaMA: nothing prints until the fourth.
    const ids = llama.encode("a 🦙!", { addSpecialTokens: false });
    expect(llama.tokenize("a 🦙!", { addSpecialTokens: false })).toEqual(["▁a", "▁", "<0xF0>", "<0x9F>", "<0xA6>", "<0x99>", "!"]);
    expect(streamAll(llama, ids)).toEqual(["a", " ", "", "", "", "🦙", "!", ""]);
  });

  it("holds back split multi-byte characters in byte-level tokens", () => {
    const ids = byteLevel.encode("日本🦙");
    const pieces = streamAll(byteLevel, ids);
    expect(pieces.join("")).toBe("日本🦙");
    for (const p of pieces) expect(p).not.toContain("\uFFFD");
  });

  it("concatenation equals decode, with and without special tokens, on random text", () => {
    const random = rng(11);
    for (let round = 0; round < 200; round++) {
      const text = randomText(random, 1 + Math.floor(random() * 80));
      for (const tok of [llama, byteLevel, llamaMetaspace]) {
        const ids = tok.encode(text, { addBos: true, addEos: true });
        expect(streamAll(tok, ids).join("")).toBe(tok.decode(ids));
        expect(streamAll(tok, ids, true).join("")).toBe(tok.decode(ids, { skipSpecialTokens: true }));
      }
    }
  });

  it("concatenation equals decode for arbitrary id sequences (invalid UTF-8 included)", () => {
    const random = rng(5);
    for (let round = 0; round < 300; round++) {
      const ids = Array.from({ length: 1 + Math.floor(random() * 30) }, () =>
        // Mostly LLaMA byte tokens (ids 3..258), so that bytes form broken sequences often.
        random() < 0.7 ? 3 + Math.floor(random() * 256) : Math.floor(random() * llama.vocabSize),
      );
      const pieces = streamAll(llama, ids);
      expect(pieces.join("")).toBe(llama.decode(ids));
    }
  });

  it("strips the dummy-prefix space once, even when the first token prints nothing", () => {
    const ids = llama.encode(" 🦙 x", { addSpecialTokens: false }); // "▁▁", then bytes…
    expect(streamAll(llama, ids).join("")).toBe(" 🦙 x");
    expect(llama.decode(ids)).toBe(" 🦙 x");
  });
});
