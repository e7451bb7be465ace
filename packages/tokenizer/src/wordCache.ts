/**
 * Memo of word → ids. Natural text repeats a small set of words, so after warm-up almost every
 * word is a lookup instead of a BPE run; this is where most of the encoder's speed comes from.
 * Bounded: when full it is simply cleared, which keeps memory flat on adversarial input (10 MB of
 * random text) at the cost of re-warming.
 */
export class WordCache {
  private map = new Map<string, readonly number[]>();

  constructor(
    private readonly maxEntries = 65_536,
    /** Longer words are not cached: they rarely repeat and would pin large strings. */
    readonly maxWordLength = 128,
  ) {}

  get(word: string): readonly number[] | undefined {
    return this.map.get(word);
  }

  set(word: string, ids: readonly number[]): void {
    if (word.length > this.maxWordLength) return;
    if (this.map.size >= this.maxEntries) this.map.clear();
    this.map.set(word, ids);
  }

  clear(): void {
    this.map.clear();
  }
}
