/** An added token as the encoder matches it in text. */
export interface AddedTokenMatch {
  id: number;
  /** The text to look for (for normalized tokens: the token's content after normalization). */
  pattern: string;
  /** Absorb whitespace on the left / right of the match (it does not reach the model). */
  lstrip: boolean;
  rstrip: boolean;
  /** Only match when not inside a word. */
  singleWord: boolean;
}

/** A piece of input: plain text for the model, or the id of an added token found in it. */
export type Segment = string | number;

const WORD_CHAR = /[\p{L}\p{N}_]/u;
const WHITESPACE = /\s/u;

/**
 * Finds added tokens in text, leftmost-longest as HF's added-vocabulary trie does, and splits the
 * text around them. Built from one regex alternation ordered longest-first, which V8 runs far faster
 * than a character-by-character trie walk in JavaScript.
 */
export class AddedTokenSplitter {
  private readonly re: RegExp | null;
  private readonly byPattern = new Map<string, AddedTokenMatch>();

  constructor(tokens: readonly AddedTokenMatch[]) {
    for (const t of tokens) if (t.pattern.length > 0 && !this.byPattern.has(t.pattern)) this.byPattern.set(t.pattern, t);
    const patterns = [...this.byPattern.keys()].sort((a, b) => b.length - a.length);
    this.re = patterns.length === 0 ? null : new RegExp(patterns.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"), "gu");
  }

  get isEmpty(): boolean {
    return this.re === null;
  }

  /** Splits `text` into plain strings (possibly empty ones dropped) and token ids, in order. */
  split(text: string): Segment[] {
    const re = this.re;
    if (re === null) return [text];
    const out: Segment[] = [];
    let last = 0;
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      const token = this.byPattern.get(m[0]) as AddedTokenMatch;
      let start = m.index;
      let end = start + m[0].length;
      if (token.singleWord) {
        const before = start > 0 ? text[start - 1] : undefined;
        const after = text[end];
        if ((before !== undefined && WORD_CHAR.test(before)) || (after !== undefined && WORD_CHAR.test(after))) {
          re.lastIndex = start + 1;
          continue;
        }
      }
      if (token.lstrip) while (start > last && WHITESPACE.test(text[start - 1] as string)) start--;
      if (token.rstrip) while (end < text.length && WHITESPACE.test(text[end] as string)) end++;
      if (start > last) out.push(text.slice(last, start));
      out.push(token.id);
      last = end;
      re.lastIndex = end;
    }
    if (last < text.length) out.push(text.slice(last));
    return out;
  }
}
