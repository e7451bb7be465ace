/** A distinct word of the corpus as starting symbol ids (-1: a character left out of the alphabet). */
export interface TrainingWord {
  symbols: number[];
  count: number;
}

export interface BpeTrainerInput {
  words: TrainingWord[];
  /** Token strings of the starting ids; merged tokens are appended. */
  tokens: string[];
  /** Stop when the vocabulary (starting tokens + merged tokens) reaches this size. */
  vocabSize: number;
  /** Pairs seen fewer times than this are never merged. */
  minFrequency: number;
  /** Longest merged token, in code points (sentencepiece's max_sentencepiece_length). */
  maxTokenLength: number;
  /**
   * Strings a merge must not produce: special tokens and `<0xNN>` byte pieces. A corpus that
   * contains the text "<s>" must not turn it into the BOS id.
   */
  reserved: ReadonlySet<string>;
}

export interface BpeTrainerResult {
  tokens: string[];
  /** Merges in the order learned: that order is the rank the encoder applies them by. */
  merges: Array<[left: number, right: number]>;
}

// Pair keys pack both ids into one number (ids < 2^21, so the key stays an exact double).
const ID_BITS = 2 ** 21;
const pairKey = (a: number, b: number): number => a * ID_BITS + b;

/**
 * Max-heap of (count, pair) with lazy invalidation: counts change constantly while merging, so
 * instead of updating entries in place we push a fresh entry whenever a count grows and, when an
 * entry surfaces with an out-of-date count, push it back with the current one.
 */
class PairQueue {
  private counts: number[] = [];
  private keys: number[] = [];

  get size(): number {
    return this.keys.length;
  }

  // Higher count first; on equal counts the smaller key (earlier ids), for a deterministic result.
  private before(i: number, j: number): boolean {
    const ci = this.counts[i] as number;
    const cj = this.counts[j] as number;
    return ci > cj || (ci === cj && (this.keys[i] as number) < (this.keys[j] as number));
  }

  private swap(i: number, j: number): void {
    [this.counts[i], this.counts[j]] = [this.counts[j] as number, this.counts[i] as number];
    [this.keys[i], this.keys[j]] = [this.keys[j] as number, this.keys[i] as number];
  }

  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    let i = this.keys.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(): { count: number; key: number } {
    const top = { count: this.counts[0] as number, key: this.keys[0] as number };
    const lastCount = this.counts.pop() as number;
    const lastKey = this.keys.pop() as number;
    if (this.keys.length > 0) {
      this.counts[0] = lastCount;
      this.keys[0] = lastKey;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < this.keys.length && this.before(l, best)) best = l;
        if (r < this.keys.length && this.before(r, best)) best = r;
        if (best === i) break;
        this.swap(i, best);
        i = best;
      }
    }
    return top;
  }
}

/**
 * Learns BPE merges from word counts: repeatedly merge the most frequent adjacent pair. Pair counts
 * and the words each pair occurs in are maintained incrementally, so one merge costs time in
 * proportion to the words it touches rather than to the corpus.
 */
export function trainBpe(input: BpeTrainerInput): BpeTrainerResult {
  const tokens = [...input.tokens];
  const tokenLength = tokens.map((t) => Array.from(t).length);
  const idOf = new Map(tokens.map((t, i) => [t, i]));
  const words = input.words.map((w) => ({ symbols: [...w.symbols], count: w.count }));
  const counts = new Map<number, number>();
  const where = new Map<number, Set<number>>();

  const addPair = (a: number, b: number, delta: number, word: number): void => {
    if (a < 0 || b < 0) return;
    const key = pairKey(a, b);
    counts.set(key, (counts.get(key) ?? 0) + delta);
    if (delta > 0) {
      let set = where.get(key);
      if (set === undefined) where.set(key, (set = new Set()));
      set.add(word);
    }
  };

  words.forEach((w, wi) => {
    for (let i = 0; i + 1 < w.symbols.length; i++) addPair(w.symbols[i] as number, w.symbols[i + 1] as number, w.count, wi);
  });
  const queue = new PairQueue();
  for (const [key, count] of counts) queue.push(count, key);

  const merges: Array<[number, number]> = [];
  const forbidden = new Set<number>();
  while (tokens.length < input.vocabSize && queue.size > 0) {
    const { count, key } = queue.pop();
    const current = counts.get(key) ?? 0;
    if (current !== count) {
      if (current > 0) queue.push(current, key);
      continue;
    }
    if (count < input.minFrequency) break;
    if (forbidden.has(key)) continue;
    const a = Math.floor(key / ID_BITS);
    const b = key - a * ID_BITS;
    if ((tokenLength[a] as number) + (tokenLength[b] as number) > input.maxTokenLength) {
      forbidden.add(key);
      continue;
    }
    const merged = (tokens[a] as string) + (tokens[b] as string);
    if (input.reserved.has(merged)) {
      forbidden.add(key);
      continue;
    }
    let c = idOf.get(merged);
    if (c === undefined) {
      c = tokens.length;
      tokens.push(merged);
      tokenLength.push((tokenLength[a] as number) + (tokenLength[b] as number));
      idOf.set(merged, c);
    }
    merges.push([a, b]);

    const grown = new Set<number>();
    for (const wi of where.get(key) ?? []) {
      const w = words[wi] as TrainingWord;
      const s = w.symbols;
      const out: number[] = [];
      let changed = false;
      for (let i = 0; i < s.length; i++) {
        if (s[i] === a && s[i + 1] === b) {
          const prev = out.length > 0 ? (out[out.length - 1] as number) : -1;
          const next = i + 2 < s.length ? (s[i + 2] as number) : -1;
          addPair(a, b, -w.count, wi);
          if (prev >= 0) {
            addPair(prev, a, -w.count, wi);
            addPair(prev, c, w.count, wi);
            grown.add(pairKey(prev, c));
          }
          if (next >= 0) {
            addPair(b, next, -w.count, wi);
            addPair(c, next, w.count, wi);
            grown.add(pairKey(c, next));
          }
          out.push(c);
          i++;
          changed = true;
        } else out.push(s[i] as number);
      }
      if (changed) w.symbols = out;
    }
    where.delete(key);
    counts.delete(key);
    for (const g of grown) {
      const n = counts.get(g) ?? 0;
      if (n > 0) queue.push(n, g);
    }
  }
  return { tokens, merges };
}
