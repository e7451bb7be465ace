/**
 * Open-addressing hash from a symbol pair (left id, right id) to its merge: the rank (lower merges
 * first) and the id of the merged symbol. A `Map` keyed by `left * vocabSize + right` would leave
 * V8's small-integer range for large vocabularies and box every key; two Int32Array probes keep
 * the hot lookup in the BPE loop allocation-free.
 */
export class MergeTable {
  private keysLeft: Int32Array;
  private keysRight: Int32Array;
  private ranks: Int32Array;
  private results: Int32Array;
  private mask: number;
  private count = 0;

  constructor(expected = 1024) {
    let capacity = 16;
    while (capacity < expected * 2) capacity *= 2;
    this.mask = capacity - 1;
    this.keysLeft = new Int32Array(capacity).fill(-1);
    this.keysRight = new Int32Array(capacity);
    this.ranks = new Int32Array(capacity);
    this.results = new Int32Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  private slotOf(left: number, right: number): number {
    // Multiplicative mixing of both halves; the table size is a power of two.
    return (Math.imul(left, 0x9e3779b1) ^ Math.imul(right + 0x7f4a7c15, 0x85ebca6b)) >>> 0;
  }

  /**
   * Adds a merge. When the pair is already present the better (lower) rank wins, matching BPE
   * semantics where the first listed merge of a pair is the one that applies.
   */
  set(left: number, right: number, rank: number, result: number): void {
    if (left < 0 || right < 0) return;
    if ((this.count + 1) * 2 > this.keysLeft.length) this.grow();
    let i = this.slotOf(left, right) & this.mask;
    for (;;) {
      const k = this.keysLeft[i] as number;
      if (k === -1) {
        this.keysLeft[i] = left;
        this.keysRight[i] = right;
        this.ranks[i] = rank;
        this.results[i] = result;
        this.count++;
        return;
      }
      if (k === left && this.keysRight[i] === right) {
        if (rank < (this.ranks[i] as number)) {
          this.ranks[i] = rank;
          this.results[i] = result;
        }
        return;
      }
      i = (i + 1) & this.mask;
    }
  }

  /** Slot index of the pair, or -1. Read the merge with {@link rankAt} and {@link resultAt}. */
  find(left: number, right: number): number {
    if (left < 0 || right < 0) return -1;
    const keysLeft = this.keysLeft;
    const mask = this.mask;
    let i = this.slotOf(left, right) & mask;
    for (;;) {
      const k = keysLeft[i] as number;
      if (k === -1) return -1;
      if (k === left && this.keysRight[i] === right) return i;
      i = (i + 1) & mask;
    }
  }

  rankAt(slot: number): number {
    return this.ranks[slot] as number;
  }

  resultAt(slot: number): number {
    return this.results[slot] as number;
  }

  /** Every stored merge, in no particular order. */
  *entries(): IterableIterator<{ left: number; right: number; rank: number; result: number }> {
    for (let i = 0; i < this.keysLeft.length; i++) {
      const left = this.keysLeft[i] as number;
      if (left !== -1) {
        yield { left, right: this.keysRight[i] as number, rank: this.ranks[i] as number, result: this.results[i] as number };
      }
    }
  }

  private grow(): void {
    const old = { l: this.keysLeft, r: this.keysRight, k: this.ranks, v: this.results };
    const capacity = old.l.length * 2;
    this.mask = capacity - 1;
    this.keysLeft = new Int32Array(capacity).fill(-1);
    this.keysRight = new Int32Array(capacity);
    this.ranks = new Int32Array(capacity);
    this.results = new Int32Array(capacity);
    this.count = 0;
    for (let i = 0; i < old.l.length; i++) {
      const left = old.l[i] as number;
      if (left !== -1) this.set(left, old.r[i] as number, old.k[i] as number, old.v[i] as number);
    }
  }
}
