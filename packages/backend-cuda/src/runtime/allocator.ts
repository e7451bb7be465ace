import { BackendError } from "@densessm/core";
import type { CudaDriver, DevicePointer } from "../driver/api.js";
import { CUDA, CudaError } from "../driver/errors.js";

/** A block of device memory. */
export interface DeviceBuffer {
  readonly pointer: DevicePointer;
  /** Its size: the request rounded up to the allocator's size class. */
  readonly bytes: number;
}

export interface AllocatorStats {
  /** Bytes handed out and not yet returned. */
  inUseBytes: number;
  /** Bytes returned and kept for reuse. */
  cachedBytes: number;
  /** The most ever held from the driver (in use + cached). */
  peakReservedBytes: number;
  /** cuMemAlloc calls, and requests served from the cache instead. */
  driverAllocations: number;
  reused: number;
}

const SMALL = 1 << 20;
const SMALL_STEP = 512;
const LARGE_STEP = 2 << 20;

/** The size class of a request: 512-byte steps up to 1 MiB, 2 MiB steps above. */
export const sizeClass = (bytes: number): number => {
  const step = bytes <= SMALL ? SMALL_STEP : LARGE_STEP;
  return Math.max(step, Math.ceil(bytes / step) * step);
};

/**
 * A caching device allocator: freed blocks are kept by size class and handed out again, so steady
 * work (a training loop, decoding) calls cuMemAlloc / cuMemFree only while it warms up. Both are
 * slow and synchronise the device. All work runs on one stream, so a block freed here can be
 * reused by later work even while earlier work that reads it is still running. When the device
 * runs out of memory, the cache is released and the allocation tried once more.
 */
export class CachingAllocator {
  readonly stats: AllocatorStats = { inUseBytes: 0, cachedBytes: 0, peakReservedBytes: 0, driverAllocations: 0, reused: 0 };
  private readonly cache = new Map<number, DevicePointer[]>();

  constructor(private readonly driver: CudaDriver) {}

  alloc(bytes: number): DeviceBuffer {
    const size = sizeClass(bytes);
    const cached = this.cache.get(size)?.pop();
    let pointer: DevicePointer;
    if (cached !== undefined) {
      this.stats.cachedBytes -= size;
      this.stats.reused++;
      pointer = cached;
    } else {
      pointer = this.fromDriver(size);
      this.stats.driverAllocations++;
    }
    this.stats.inUseBytes += size;
    this.stats.peakReservedBytes = Math.max(this.stats.peakReservedBytes, this.stats.inUseBytes + this.stats.cachedBytes);
    return { pointer, bytes: size };
  }

  free(buffer: DeviceBuffer): void {
    const list = this.cache.get(buffer.bytes);
    if (list) list.push(buffer.pointer);
    else this.cache.set(buffer.bytes, [buffer.pointer]);
    this.stats.inUseBytes -= buffer.bytes;
    this.stats.cachedBytes += buffer.bytes;
  }

  /** Returns every cached block to the driver. */
  trim(): void {
    for (const [size, list] of this.cache) for (const p of list.splice(0)) {
      this.driver.memFree(p);
      this.stats.cachedBytes -= size;
    }
    this.cache.clear();
  }

  private fromDriver(size: number): DevicePointer {
    try {
      return this.driver.memAlloc(size);
    } catch (e) {
      if (!(e instanceof CudaError && e.code === CUDA.ERROR_OUT_OF_MEMORY)) throw e;
    }
    const cached = this.stats.cachedBytes;
    this.trim();
    try {
      return this.driver.memAlloc(size);
    } catch (e) {
      if (!(e instanceof CudaError && e.code === CUDA.ERROR_OUT_OF_MEMORY)) throw e;
      const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
      const info = this.driver.memoryInfo();
      throw new BackendError(`cuda: out of device memory allocating ${mib(size)} (${mib(this.stats.inUseBytes)} in use by this backend, ${mib(cached)} of cache released first; the device has ${mib(info.free)} free of ${mib(info.total)})`);
    }
  }
}
