import type { GpuRuntime, KernelProgram, RuntimeLimits } from "@densessm/gpu";
import { DEVICE_ATTRIBUTE, type CudaDriver, type CuEvent, type CuStream, type Dim3, type HostPointer, type KernelArgs } from "../driver/api.js";
import type { KernelLoader, LoadedKernel } from "../kernels/loader.js";
import { CachingAllocator, sizeClass, type DeviceBuffer } from "./allocator.js";
import { GraphCache } from "./graphs.js";

/** A compiled kernel: its function and a short id for submission keys. */
export interface CudaKernel extends LoadedKernel {
  readonly id: number;
}

/** A launch's arguments, built once per binding. */
export interface CudaBinding {
  readonly kernel: CudaKernel;
  readonly args: KernelArgs;
  /** The kernel and every argument byte, as text: the binding's part of a submission key. */
  readonly key: string;
}

/** A device-to-host copy into page-locked memory, readable once its submission has finished. */
export interface CudaStaged {
  readonly host: HostPointer;
  /** The page-locked block's size, and the free list it returns to. */
  readonly capacity: number;
  readonly pool: string;
  readonly bytes: number;
  submission: Submission | undefined;
}

/** Work handed to the stream, and the event recorded after it. */
interface Submission {
  readonly event: CuEvent;
  done: boolean;
}

type Op =
  | { readonly kind: "launch"; readonly binding: CudaBinding; readonly groups: Dim3 }
  | { readonly kind: "copy"; readonly src: DeviceBuffer; readonly dst: DeviceBuffer; readonly bytes: number }
  | { readonly kind: "stage"; readonly staged: CudaStaged; readonly src: DeviceBuffer };

export interface CudaRuntimeStats {
  /** Kernel launches issued one by one (cuLaunchKernel), and submissions. */
  launches: number;
  submissions: number;
}

export interface CudaRuntimeOptions {
  /** Device ordinal (default 0). */
  readonly device?: number;
  /** Capture repeated submissions into CUDA graphs (default true). */
  readonly graphs?: boolean;
}

/** Staged copies up to this size keep page-locked blocks per source buffer (see `stage`). */
const SOURCE_KEYED_BYTES = 64 * 1024;

/** Polls of a submission's event before waiting with timers instead of spinning (about 5 ms). */
const SPIN_MS = 5;

const hex = (p: bigint) => p.toString(16);

/**
 * The GpuRuntime of the CUDA driver API: buffers from a caching allocator, kernels from the shipped
 * PTX or NVRTC (KernelLoader), one non-blocking stream. Launches, copies and staged reads are
 * recorded and issued at `submit` — as one CUDA graph when the same work was submitted before —
 * followed by an event; host writes issue what was recorded first, so everything stays in order.
 * `submit` does not wait: a device fault is reported by the next read or submit, which wait on the
 * events by polling (the event loop keeps running while the GPU works).
 */
export class CudaRuntime implements GpuRuntime<DeviceBuffer, CudaKernel, CudaBinding, CudaStaged> {
  readonly name = "cuda";
  readonly limits: RuntimeLimits;
  readonly allocator: CachingAllocator;
  readonly stats: CudaRuntimeStats = { launches: 0, submissions: 0 };
  readonly graphs: GraphCache | undefined;
  readonly stream: CuStream;
  private recording: Op[] = [];
  /** Free page-locked blocks: per source buffer for small copies, per size above (see `stage`). */
  private readonly pinned = new Map<string, HostPointer[]>();
  /** Events to reuse, and submissions not yet seen finished (oldest first). */
  private readonly events: CuEvent[] = [];
  private readonly pending: Submission[] = [];
  private kernels = 0;
  private disposed = false;

  constructor(
    readonly driver: CudaDriver,
    readonly device: number,
    private readonly loader: KernelLoader,
    options: CudaRuntimeOptions = {},
  ) {
    // Kernel parameters may take 4 KiB: far more pointers than any kernel binds. 16 lets fused
    // elementwise chains take up to 15 inputs (WebGPU guarantees 8).
    this.limits = { maxStorageBuffers: 16, software: false };
    this.allocator = new CachingAllocator(driver);
    this.stream = driver.streamCreate();
    this.graphs = options.graphs === false ? undefined : new GraphCache(driver, this.stream);
  }

  alloc(bytes: number): DeviceBuffer {
    return this.allocator.alloc(bytes);
  }

  free(buffer: DeviceBuffer): void {
    this.allocator.free(buffer);
  }

  write(buffer: DeviceBuffer, data: ArrayBufferView): void {
    this.issue();
    this.driver.memcpyHtoDAsync(buffer.pointer, data, data.byteLength, this.stream);
  }

  copy(src: DeviceBuffer, dst: DeviceBuffer, bytes: number): void {
    this.recording.push({ kind: "copy", src, dst, bytes });
  }

  async compile(program: KernelProgram): Promise<CudaKernel> {
    const [x, y, z] = program.workgroupSize;
    const maxThreads = this.driver.deviceAttribute(DEVICE_ATTRIBUTE.maxThreadsPerBlock, this.device);
    if (x * y * z > maxThreads) throw new Error(`blocks of ${x}x${y}x${z} threads exceed this GPU's ${maxThreads}`);
    return { ...(await this.loader.load(program)), id: this.kernels++ };
  }

  bind(kernel: CudaKernel, buffers: readonly DeviceBuffer[], params: Uint32Array | undefined): CudaBinding {
    const words = params ?? new Uint32Array(0);
    const count = buffers.length + words.length;
    const values = new Uint8Array(8 * count);
    const view = new DataView(values.buffer);
    buffers.forEach((b, i) => view.setBigUint64(8 * i, b.pointer, true));
    words.forEach((w, j) => view.setUint32(8 * (buffers.length + j), w, true));
    const key = `${kernel.id}(${buffers.map((b) => hex(b.pointer)).join(",")}|${words.join(",")})`;
    return { kernel, args: this.driver.kernelArgs(values, count), key };
  }

  dispatch(binding: CudaBinding, groups: readonly [number, number, number]): void {
    this.recording.push({ kind: "launch", binding, groups });
  }

  stage(buffer: DeviceBuffer, bytes: number): CudaStaged {
    const capacity = sizeClass(bytes);
    // A small output (token ids, a loss) of the same buffer gets the same block every run it is
    // free, so a repeated run records the same copy and stays one CUDA graph.
    const pool = capacity <= SOURCE_KEYED_BYTES ? `${hex(buffer.pointer)}:${capacity}` : String(capacity);
    const host = this.pinned.get(pool)?.pop() ?? this.driver.memAllocHost(capacity);
    const staged: CudaStaged = { host, capacity, pool, bytes, submission: undefined };
    this.recording.push({ kind: "stage", staged, src: buffer });
    return staged;
  }

  async read(staged: CudaStaged): Promise<ArrayBuffer> {
    try {
      if (!staged.submission) await this.submit();
      await this.finished(staged.submission!);
      return this.driver.hostView(staged.host, staged.capacity).slice(0, staged.bytes);
    } finally {
      this.discard(staged);
    }
  }

  discard(staged: CudaStaged): void {
    const list = this.pinned.get(staged.pool);
    if (list) {
      if (!list.includes(staged.host)) list.push(staged.host);
    } else this.pinned.set(staged.pool, [staged.host]);
  }

  async submit(): Promise<void> {
    // A fault in earlier work is reported here (the event query fails with it).
    const last = this.pending.at(-1);
    if (last) this.poll(last);
    this.issue();
  }

  /** Waits until everything submitted so far has run (for timing and tests). */
  async synchronize(): Promise<void> {
    this.issue();
    const last = this.pending.at(-1);
    if (last) await this.finished(last);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.recording = [];
    this.driver.streamSynchronize(this.stream);
    this.graphs?.dispose();
    this.loader.dispose();
    this.allocator.trim();
    for (const list of this.pinned.values()) for (const p of list) this.driver.memFreeHost(p);
    this.pinned.clear();
    for (const e of [...this.events, ...this.pending.map((p) => p.event)]) this.driver.eventDestroy(e);
    this.driver.streamDestroy(this.stream);
    this.driver.releasePrimaryContext(this.device);
  }

  /** Issues the recorded work on the stream (as a CUDA graph when it repeats) and records its event. */
  private issue(): void {
    const ops = this.recording;
    if (ops.length === 0) return;
    this.recording = [];
    const launches = ops.reduce((n, op) => n + (op.kind === "launch" ? 1 : 0), 0);
    const run = () => {
      for (const op of ops) this.issueOne(op);
    };
    const asGraph = this.graphs?.run(ops.map(opKey).join(";"), ops.map(opShape).join(";"), launches, run) ?? (run(), false);
    if (!asGraph) this.stats.launches += launches;
    this.stats.submissions++;
    const submission: Submission = { event: this.events.pop() ?? this.driver.eventCreate(false), done: false };
    this.driver.eventRecord(submission.event, this.stream);
    for (const op of ops) if (op.kind === "stage") op.staged.submission = submission;
    this.pending.push(submission);
  }

  private issueOne(op: Op): void {
    const { driver, stream } = this;
    switch (op.kind) {
      case "launch":
        driver.launchKernel(op.binding.kernel.fn, op.groups, op.binding.kernel.program.workgroupSize, 0, stream, op.binding.args);
        break;
      case "copy":
        driver.memcpyDtoDAsync(op.dst.pointer, op.src.pointer, op.bytes, stream);
        break;
      case "stage":
        driver.memcpyDtoHAsync(op.staged.host, op.src.pointer, op.staged.bytes, stream);
        break;
    }
  }

  /** Whether `s` has run. Submissions finish in stream order, so once one has, every earlier one has too, and their events are reused. */
  private poll(s: Submission): boolean {
    if (s.done || !this.driver.eventQuery(s.event)) return s.done;
    const upTo = this.pending.indexOf(s);
    for (const p of this.pending.splice(0, upTo + 1)) {
      p.done = true;
      this.events.push(p.event);
    }
    return true;
  }

  /** Resolves once `s` has run: spins on the event briefly, then checks it on timers. */
  private async finished(s: Submission): Promise<void> {
    const start = performance.now();
    while (!this.poll(s)) {
      const spinning = performance.now() - start < SPIN_MS;
      await new Promise<void>((resolve) => (spinning ? setImmediate(resolve) : setTimeout(resolve, 1)));
    }
  }
}

/** What a graph's topology depends on: kernels, grids, copy sizes (not addresses or parameters). */
function opShape(op: Op): string {
  switch (op.kind) {
    case "launch":
      return `${op.binding.kernel.id}<${op.groups.join(",")}>`;
    case "copy":
      return `c${op.bytes}`;
    case "stage":
      return `s${op.staged.bytes}`;
  }
}

/** Everything a submission's work reads: its shape plus every argument byte and copy address. */
function opKey(op: Op): string {
  switch (op.kind) {
    case "launch":
      return `${op.binding.key}<${op.groups.join(",")}>`;
    case "copy":
      return `c${hex(op.src.pointer)}>${hex(op.dst.pointer)}:${op.bytes}`;
    case "stage":
      return `s${hex(op.src.pointer)}>h${hex(op.staged.host)}:${op.staged.bytes}`;
  }
}
