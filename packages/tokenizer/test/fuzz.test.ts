import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { fromPretrained, Tokenizer } from "@densessm/tokenizer";
import { fixturesDir, llamaDir, randomText, rng, wikitextPath } from "./helpers.js";

let llama: Tokenizer;
let llamaModel: Tokenizer;
let byteLevel: Tokenizer;
let trainedSp: Tokenizer;

beforeAll(async () => {
  llama = await fromPretrained(llamaDir);
  llamaModel = Tokenizer.fromSentencePiece(readFileSync(resolve(llamaDir, "tokenizer.model")));
  byteLevel = await fromPretrained(resolve(fixturesDir, "tiny-byte-level"));
  trainedSp = await fromPretrained(resolve(fixturesDir, "tiny-sentencepiece"));
});

const wellFormed = (s: string): string => s.replace(/\p{Cs}/gu, "\uFFFD");
// Sentencepiece decodes ▁ as a space, so a literal ▁ in the input comes back as " ".
const expectedRoundTrip = (tok: Tokenizer, s: string): string => (tok.kind === "sentencepiece" ? wellFormed(s).replaceAll("\u2581", " ") : wellFormed(s));

function checkRoundTrip(tok: Tokenizer, text: string): void {
  const ids = tok.encode(text);
  const bad = ids.find((id) => !(Number.isInteger(id) && id >= 0 && id < tok.vocabSize));
  expect(bad).toBeUndefined();
  expect(tok.decode(ids, { skipSpecialTokens: true })).toBe(expectedRoundTrip(tok, text));
}

/**
 * time(large) / time(small), each the best of four runs, interleaved so that both sizes see the
 * same machine load (other processes share the cores): robust against one-off GC pauses and noisy
 * neighbours without hiding a real quadratic slowdown.
 */
function timeRatio(small: () => void, large: () => void): number {
  let bestSmall = Infinity;
  let bestLarge = Infinity;
  for (let i = 0; i < 4; i++) {
    let t = performance.now();
    small();
    bestSmall = Math.min(bestSmall, performance.now() - t);
    t = performance.now();
    large();
    bestLarge = Math.min(bestLarge, performance.now() - t);
  }
  return bestLarge / Math.max(bestSmall, 0.5);
}

const all = (): Array<[string, Tokenizer]> => [
  ["llama", llama],
  ["byte-level", byteLevel],
  ["trained sentencepiece", trainedSp],
];

describe("fuzz: arbitrary strings never throw and round-trip", () => {
  it("random Unicode with controls, NUL, emoji, astral chars and lone surrogates", () => {
    const random = rng(1234);
    for (let i = 0; i < 1500; i++) {
      const text = randomText(random, Math.floor(random() * 120));
      for (const [, tok] of all()) checkRoundTrip(tok, text);
      // Both LLaMA sources give identical ids on anything.
      expect(llamaModel.encode(text)).toEqual(llama.encode(text));
    }
  });

  it("text decoded from invalid UTF-8 bytes (U+FFFD) and from bytes read as Latin-1", () => {
    const random = rng(99);
    const lossy = new TextDecoder("utf-8", { fatal: false });
    for (let i = 0; i < 500; i++) {
      const bytes = Uint8Array.from({ length: Math.floor(random() * 64) }, () => Math.floor(random() * 256));
      for (const text of [lossy.decode(bytes), String.fromCharCode(...bytes)]) {
        for (const [, tok] of all()) checkRoundTrip(tok, text);
      }
    }
  });

  it("lone surrogates are read as U+FFFD", () => {
    for (const [, tok] of all()) {
      expect(tok.encode("a\uD800b")).toEqual(tok.encode("a\uFFFDb"));
      expect(tok.encode("\uDC00")).toEqual(tok.encode("\uFFFD"));
      expect(tok.encode("🦙\uD83E")).toEqual(tok.encode("🦙\uFFFD"));
    }
  });

  it("decoding arbitrary ids never throws", () => {
    const random = rng(3);
    for (const [, tok] of all()) {
      for (let i = 0; i < 300; i++) {
        const ids = Array.from({ length: Math.floor(random() * 40) }, () => Math.floor(random() * tok.vocabSize));
        expect(typeof tok.decode(ids)).toBe("string");
      }
    }
  });
});

describe("fuzz: huge inputs", () => {
  const wikitext = readFileSync(wikitextPath, "utf8");

  it("a 10 MB line of text (no newline) for every tokenizer", () => {
    let line = wikitext.replaceAll("\n", " ");
    while (line.length < 10_000_000) line += line;
    line = line.slice(0, 10_000_000);
    for (const [, tok] of all()) {
      const ids = tok.encode(line, { addSpecialTokens: false });
      expect(ids.length).toBeGreaterThan(1_000_000);
      expect(tok.decode(ids)).toBe(tok.kind === "sentencepiece" ? line.replaceAll("\u2581", " ") : line);
    }
  });

  it("a 10 MB line of random Unicode", () => {
    const line = randomText(rng(77), 10_000_000);
    for (const tok of [llama, byteLevel]) checkRoundTrip(tok, line);
  });

  it.each(["a", " ", "\n", "🦙", "\u2581", "\u0000", "é"])("a 1 MB run of %j", (ch) => {
    const run = ch.repeat(Math.ceil(1_000_000 / ch.length));
    for (const [, tok] of all().slice(0, 2)) checkRoundTrip(tok, run);
  });
});

describe("fuzz: encode time is linear in the input", () => {
  // Quadratic merging would make 4× the input take ~16× as long; linear(ithmic) takes ~4-5×.
  const n = 1 << 17;
  const inputs: Array<[string, (len: number) => string]> = [
    ["a run of 'a'", (len) => "a".repeat(len)],
    ["a run of spaces", (len) => " ".repeat(len)],
    ["a run of an unknown emoji", (len) => "🦙".repeat(len / 2)],
    ["alternating 'ab'", (len) => "ab".repeat(len / 2)],
    ["random text", (len) => randomText(rng(5), len)],
  ];
  it.each(inputs)("%s", (_name, make) => {
    const small = make(n);
    const large = make(4 * n);
    // The trained sentencepiece tokenizer runs the same code as LLaMA's; two tokenizers cover both paths.
    for (const [name, tok] of all().slice(0, 2)) {
      const ratio = timeRatio(
        () => tok.encode(small),
        () => tok.encode(large),
      );
      expect(ratio, `${name}: time(4n)/time(n)`).toBeLessThan(8);
    }
  });
});
