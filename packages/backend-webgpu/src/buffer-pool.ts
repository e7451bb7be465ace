/** Storage buffers can be bound, copied into (uploads) and out of (outputs, downloads). */
export const STORAGE_USAGE = 0x80 | 0x08 | 0x04; // STORAGE | COPY_DST | COPY_SRC
export const READBACK_USAGE = 0x01 | 0x08; // MAP_READ | COPY_DST

/**
 * Recycles device buffers by exact size and usage (a decode loop asks for the same sizes every
 * token, so after the first step nothing is allocated), and keeps the byte counts `memory()`
 * reports. WebGPU orders queue work, so a buffer handed back here can be reused by later commands
 * even while earlier ones that read it are still in flight.
 */
export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  live = 0;
  peak = 0;

  constructor(private readonly device: GPUDevice) {}

  take(bytes: number, usage = STORAGE_USAGE): GPUBuffer {
    const size = Math.max(bytes, 4);
    const reused = this.free.get(`${usage}:${size}`)?.pop();
    if (reused) return reused;
    this.live += size;
    this.peak = Math.max(this.peak, this.live);
    return this.device.createBuffer({ size, usage });
  }

  give(buffer: GPUBuffer): void {
    const key = `${buffer.usage}:${buffer.size}`;
    const list = this.free.get(key);
    if (list) list.push(buffer);
    else this.free.set(key, [buffer]);
  }

  /** Destroys pooled (idle) buffers. */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) {
      this.live -= b.size;
      b.destroy();
    }
    this.free.clear();
  }
}
