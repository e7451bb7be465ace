import { compileOnigurumaPattern, GPT2_PATTERN } from "../pipeline/regex.js";
import { toWellFormed } from "../unicode.js";

/**
 * Splits training text into the same words the encoder will later see, and counts them. BPE never
 * merges across these boundaries, so training on word counts is exact and much cheaper than
 * training on the running text.
 */
export type WordCounts = Map<string, number>;

function add(counts: WordCounts, word: string): void {
  counts.set(word, (counts.get(word) ?? 0) + 1);
}

/**
 * Sentencepiece-style words: each line is a sentence, escaped as "▁" + line with spaces → "▁", then
 * cut into "▁-run followed by non-▁ characters" chunks, exactly as the encoder cuts text. Words
 * therefore never contain ▁ after another character, the property the encoder relies on.
 */
export function countMetaspaceWords(documents: Iterable<string>, counts: WordCounts = new Map()): WordCounts {
  for (const doc of documents) {
    for (const rawLine of toWellFormed(doc).split("\n")) {
      const line = rawLine.endsWith("\r") ? rawLine.slice(0, -1) : rawLine;
      if (line.length === 0) continue;
      const s = "\u2581" + line.replaceAll(" ", "\u2581");
      let start = 0;
      while (start < s.length) {
        let i = start;
        while (i < s.length && s[i] === "\u2581") i++;
        while (i < s.length && s[i] !== "\u2581") i++;
        add(counts, s.slice(start, i));
        start = i;
      }
    }
  }
  return counts;
}

/** Byte-level words: the GPT-2 pre-tokenizer regex over each document, newlines included. */
export function countByteLevelWords(documents: Iterable<string>, counts: WordCounts = new Map()): WordCounts {
  const re = compileOnigurumaPattern(GPT2_PATTERN, "byte-level trainer");
  for (const doc of documents) {
    const text = toWellFormed(doc);
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      if (m[0].length === 0) {
        re.lastIndex++;
        continue;
      }
      add(counts, m[0]);
    }
  }
  return counts;
}
