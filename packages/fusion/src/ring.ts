import { DenseSSMError } from "@densessm/core";

/**
 * The last `depth` layers' hidden states (the dense depth m), oldest first. Generic over what is
 * kept: symbolic `[B, L, D]` sequences while tracing a parallel/chunkwise graph, single-token
 * `[B, D]` states inside a recurrent step graph, or tuples of several (e.g. DenseRetNet's k and v).
 *
 *     const ring = new DenseHiddenRing<SymTensor>(m);
 *     for (const layer of layers) { const h = layer(x, ring.items()); ring.push(h); }
 */
export class DenseHiddenRing<T> {
  private readonly buffer: T[] = [];

  constructor(readonly depth: number) {
    if (!Number.isInteger(depth) || depth < 0) throw new DenseSSMError(`DenseHiddenRing: depth must be a non-negative integer, got ${depth}`);
  }

  /** Adds the newest layer's state, dropping the oldest once more than `depth` are held. */
  push(item: T): void {
    if (this.depth === 0) return;
    this.buffer.push(item);
    if (this.buffer.length > this.depth) this.buffer.shift();
  }

  /** The held states, oldest first (at most `depth`). */
  items(): readonly T[] {
    return [...this.buffer];
  }

  get size(): number {
    return this.buffer.length;
  }

  clear(): void {
    this.buffer.length = 0;
  }
}
