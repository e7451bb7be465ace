import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

/**
 * Test data, all inside the repository (see fixtures/README.md for where each file came from):
 * LLaMA's tokenizer files, sentencepiece's own ids for them, and the head of wikitext-2's test split.
 */
export const fixturesDir = resolve(here, "fixtures");
export const llamaDir = resolve(fixturesDir, "llama");
export const llamaFixturePath = resolve(fixturesDir, "llama-sentencepiece.jsonl");
/** The first 2000 lines (about 0.6 MB) of wikitext-2's test split. */
export const wikitextPath = resolve(fixturesDir, "wikitext-2-test-head.txt");

export interface LlamaCase {
  text: string;
  ids: number[];
  pieces: string[];
}

export function readLlamaFixture(): LlamaCase[] {
  const lines = readFileSync(llamaFixturePath, "utf8").split("\n").filter((l) => l.trim().length > 0);
  const cases = lines.map((l) => JSON.parse(l) as LlamaCase);
  if (cases.length === 0) throw new Error(`${llamaFixturePath} has no cases`);
  return cases;
}

/** Deterministic PRNG (mulberry32) so fuzz failures reproduce. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random string of code units / code points drawn from a mix of ranges, including lone surrogates. */
export function randomText(random: () => number, length: number): string {
  const parts: string[] = [];
  let n = 0;
  while (n < length) {
    const r = random();
    let s: string;
    if (r < 0.3) s = String.fromCharCode(0x20 + Math.floor(random() * 0x5f)); // ASCII
    else if (r < 0.4) s = " ";
    else if (r < 0.5) s = String.fromCharCode(Math.floor(random() * 0x20)); // controls incl. NUL, \n, \t
    else if (r < 0.65) s = String.fromCharCode(0xa0 + Math.floor(random() * 0x2f60)); // Latin…CJK-ish BMP
    else if (r < 0.75) s = String.fromCodePoint(0x1f300 + Math.floor(random() * 0x500)); // emoji
    else if (r < 0.8) s = String.fromCharCode(0xd800 + Math.floor(random() * 0x800)); // lone surrogate
    else if (r < 0.85) s = "\u2581"; // a literal ▁
    else if (r < 0.9) s = String.fromCodePoint(0x10000 + Math.floor(random() * 0xfffff)); // any astral
    else s = String.fromCharCode(0x4e00 + Math.floor(random() * 0x5000)); // CJK
    parts.push(s);
    n += s.length;
  }
  return parts.join("");
}
