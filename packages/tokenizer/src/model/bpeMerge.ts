import type { MergeTable } from "./mergeTable.js";

// Below this many symbols a quadratic scan beats the heap: words are short and the scan has no
// allocation or branching on heap state. Above it the heap keeps long runs (a megabyte of one
// character, a line without spaces) linear-logarithmic instead of quadratic.
const SMALL_WORD = 48;
const NO_RANK = 0x7fffffff;
const SCRATCH_KEEP = 1 << 16;

/**
 * Applies BPE merges to one word in place. At every step the adjacent pair with the lowest rank
 * merges; ties go to the leftmost pair. That is both Hugging Face's rank-ordered BPE and
 * sentencepiece's score-ordered BPE (whose scores are turned into ranks, equal scores sharing a
 * rank, so the leftmost-on-tie rule is preserved).
 *
 * Symbols are vocabulary ids; negative symbols are placeholders (an unknown character) that never
 * merge. The instance reuses its scratch buffers, so it is not reentrant.
 */
export class BpeMerger {
  private pairRank = new Int32Array(SMALL_WORD);
  private pairSlot = new Int32Array(SMALL_WORD);
  private prev = new Int32Array(0);
  private next = new Int32Array(0);
  private heap = new Float64Array(0);

  constructor(private readonly table: MergeTable) {}

  /** Merges `symbols[0..length)` in place and returns the new length. */
  merge(symbols: Int32Array, length: number): number {
    if (length < 2) return length;
    return length <= SMALL_WORD ? this.mergeSmall(symbols, length) : this.mergeLarge(symbols, length);
  }

  private mergeSmall(sym: Int32Array, n: number): number {
    const table = this.table;
    const pairRank = this.pairRank;
    const pairSlot = this.pairSlot;
    for (let i = 0; i < n - 1; i++) this.scorePair(sym, i, i + 1, i);
    for (;;) {
      let best = NO_RANK;
      let pos = -1;
      for (let i = 0; i < n - 1; i++) {
        const r = pairRank[i] as number;
        if (r < best) {
          best = r;
          pos = i;
        }
      }
      if (pos < 0) return n;
      sym[pos] = table.resultAt(pairSlot[pos] as number);
      sym.copyWithin(pos + 1, pos + 2, n);
      pairRank.copyWithin(pos + 1, pos + 2, n - 1);
      pairSlot.copyWithin(pos + 1, pos + 2, n - 1);
      n--;
      if (pos > 0) this.scorePair(sym, pos - 1, pos, pos - 1);
      if (pos < n - 1) this.scorePair(sym, pos, pos + 1, pos);
    }
  }

  private scorePair(sym: Int32Array, left: number, right: number, at: number): void {
    const slot = this.table.find(sym[left] as number, sym[right] as number);
    this.pairSlot[at] = slot;
    this.pairRank[at] = slot < 0 ? NO_RANK : this.table.rankAt(slot);
  }

  private mergeLarge(sym: Int32Array, n: number): number {
    const table = this.table;
    const reuse = this.prev.length >= n;
    const prev = reuse ? this.prev : new Int32Array(n);
    const next = reuse ? this.next : new Int32Array(n);
    if (!reuse && n <= SCRATCH_KEEP) {
      this.prev = prev;
      this.next = next;
    }
    for (let i = 0; i < n; i++) {
      prev[i] = i - 1;
      next[i] = i + 1;
    }
    next[n - 1] = -1;

    // Heap keys pack (rank, position) into one double so that comparing keys orders by rank, then
    // by position (leftmost first). Entries go stale when a neighbour merges; instead of deleting
    // them we re-check the pair when it surfaces.
    let scale = 1;
    while (scale <= n) scale *= 2;
    // n - 1 initial entries, and each merge pops one and pushes at most two.
    const heapCap = 2 * n;
    const heap = this.heap.length >= heapCap ? this.heap : new Float64Array(heapCap);
    // Keep moderately sized buffers for reuse, but let a huge one go with this call.
    if (heapCap <= SCRATCH_KEEP) this.heap = heap;
    let size = 0;
    const push = (key: number): void => {
      let i = size++;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        const pk = heap[parent] as number;
        if (pk <= key) break;
        heap[i] = pk;
        i = parent;
      }
      heap[i] = key;
    };
    const pop = (): number => {
      const top = heap[0] as number;
      const last = heap[--size] as number;
      let i = 0;
      for (;;) {
        let child = 2 * i + 1;
        if (child >= size) break;
        const right = child + 1;
        if (right < size && (heap[right] as number) < (heap[child] as number)) child = right;
        if ((heap[child] as number) >= last) break;
        heap[i] = heap[child] as number;
        i = child;
      }
      heap[i] = last;
      return top;
    };

    for (let i = 0; i < n - 1; i++) {
      const slot = table.find(sym[i] as number, sym[i + 1] as number);
      if (slot >= 0) push(table.rankAt(slot) * scale + i);
    }
    while (size > 0) {
      const key = pop();
      const rank = Math.floor(key / scale);
      const pos = key - rank * scale;
      const right = next[pos] as number;
      if (right < 0) continue; // removed, or last symbol
      const slot = table.find(sym[pos] as number, sym[right] as number);
      if (slot < 0 || table.rankAt(slot) !== rank) continue; // stale entry
      sym[pos] = table.resultAt(slot);
      const after = next[right] as number;
      next[pos] = after;
      if (after >= 0) prev[after] = pos;
      next[right] = -2;
      const before = prev[pos] as number;
      if (before >= 0) {
        const s = table.find(sym[before] as number, sym[pos] as number);
        if (s >= 0) push(table.rankAt(s) * scale + before);
      }
      if (after >= 0) {
        const s = table.find(sym[pos] as number, sym[after] as number);
        if (s >= 0) push(table.rankAt(s) * scale + pos);
      }
    }
    // Position 0 always survives (a merge keeps its left symbol), so walk the list from there.
    let out = 0;
    for (let i = 0; i >= 0; i = next[i] as number) sym[out++] = sym[i] as number;
    return out;
  }
}
