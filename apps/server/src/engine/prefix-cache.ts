import type { DecoderSnapshot } from "@densessm/core";

/**
 * Decoder states after prompt prefixes (a chat's system prompt, a few-shot header), least recently
 * used first out, bounded in bytes. An SSM state is the same size whatever the prefix length, so a
 * hit on a long prefix saves its whole prefill for the price of one state.
 *
 * Keys are the prefix's token ids. A request looks up the prefixes it could reuse (its message
 * boundaries and chunk boundaries) and continues from the longest one cached.
 */
export class PrefixCache {
  private readonly entries = new Map<string, DecoderSnapshot>();
  private used = 0;
  hits = 0;
  misses = 0;
  /** Prompt tokens whose prefill a hit saved. */
  savedTokens = 0;

  constructor(readonly maxBytes: number) {}

  get bytes(): number {
    return this.used;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The longest cached prefix of `tokens` among the lengths `points`, counted as a hit or a miss. */
  lookup(tokens: readonly number[], points: readonly number[]): { length: number; snapshot: DecoderSnapshot } | undefined {
    for (const length of [...points].sort((a, b) => b - a)) {
      const key = keyOf(tokens, length);
      const snapshot = this.entries.get(key);
      if (!snapshot) continue;
      this.entries.delete(key); // most recently used goes last
      this.entries.set(key, snapshot);
      this.hits++;
      this.savedTokens += length;
      return { length, snapshot };
    }
    this.misses++;
    return undefined;
  }

  has(tokens: readonly number[], length: number): boolean {
    return this.entries.has(keyOf(tokens, length));
  }

  /** Keeps the state after the first `snapshot.position` tokens of `tokens`, evicting the least recently used. */
  store(tokens: readonly number[], snapshot: DecoderSnapshot): void {
    const bytes = snapshot.byteLength;
    if (bytes > this.maxBytes) return;
    const key = keyOf(tokens, snapshot.position);
    const old = this.entries.get(key);
    if (old) {
      this.used -= old.byteLength;
      this.entries.delete(key);
    }
    this.entries.set(key, snapshot);
    this.used += bytes;
    for (const [k, s] of this.entries) {
      if (this.used <= this.maxBytes) break;
      this.entries.delete(k);
      this.used -= s.byteLength;
    }
  }

  clear(): void {
    this.entries.clear();
    this.used = 0;
  }
}

const keyOf = (tokens: readonly number[], length: number): string => tokens.slice(0, length).join(",");
