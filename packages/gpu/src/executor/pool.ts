import type { GpuRuntime } from "./runtime.js";

/**
 * Recycles device buffers by exact size (a decode loop asks for the same sizes every token, so
 * after the first step nothing is allocated), and keeps the byte counts `memory()` reports.
 * Runtimes order their work, so a buffer handed back here can be reused by later work even while
 * earlier work that reads it is still in flight.
 */
export class BufferPool<Buffer> {
  private readonly free = new Map<number, Buffer[]>();
  private readonly sizes = new Map<Buffer, number>();
  live = 0;
  peak = 0;

  constructor(private readonly runtime: GpuRuntime<Buffer>) {}

  take(bytes: number): Buffer {
    const size = Math.max(4, Math.ceil(bytes / 4) * 4);
    const reused = this.free.get(size)?.pop();
    if (reused !== undefined) return reused;
    const buffer = this.runtime.alloc(size);
    this.sizes.set(buffer, size);
    this.track(size);
    return buffer;
  }

  give(buffer: Buffer): void {
    const size = this.sizes.get(buffer)!;
    const list = this.free.get(size);
    if (list) list.push(buffer);
    else this.free.set(size, [buffer]);
  }

  /** Accounts for device memory held outside the pool (an executable's arena). */
  track(bytes: number): void {
    this.live += bytes;
    this.peak = Math.max(this.peak, this.live);
  }

  /** Frees pooled (idle) buffers. */
  trim(): void {
    for (const [size, list] of this.free) {
      for (const b of list) {
        this.runtime.free(b);
        this.sizes.delete(b);
        this.live -= size;
      }
    }
    this.free.clear();
  }
}
