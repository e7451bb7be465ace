import { programByEntry, storageView, type KernelProgram } from "@densessm/gpu";
import { DEVICE_ATTRIBUTE, type CudaDriver, type CuContext, type CuEvent, type CuFunction, type CuGraph, type CuGraphExec, type CuModule, type CuStream, type DevicePointer, type Dim3, type HostPointer, type KernelArgs } from "./api.js";
import type { CompiledImage, KernelCompiler } from "../nvrtc/nvrtc.js";
import { CUDA, CudaError, ERROR_NAMES } from "./errors.js";

export interface MockDriverOptions {
  /** Run kernels with the interpreter's checks (bounds, barriers, uninitialised shared memory). Default false. */
  readonly debug?: boolean;
  /**
   * false checks launches but runs no kernel, and device memory is only accounted, never held
   * (copies move nothing): a dry run, for finding which kernels a workload needs, at any size,
   * without computing it. Default true.
   */
  readonly execute?: boolean;
  /** Device memory; an allocation beyond it fails with CUDA_ERROR_OUT_OF_MEMORY. Default 16 GiB (2^50 bytes in a dry run). */
  readonly memoryBytes?: number;
  /** cuDriverGetVersion's answer (default 12020, a CUDA 12.2 driver). */
  readonly driverVersion?: number;
  /** Compute capability (default 8.0). */
  readonly computeCapability?: readonly [number, number];
}

interface Allocation {
  /** The bytes; in a dry run a zero-length stand-in (the size is in `bytes`). */
  readonly data: ArrayBuffer;
  readonly bytes: number;
}

/** A recorded operation: what a captured stream or an instantiated graph replays. */
type Op = (() => void) & { readonly node?: string };

interface MockStream {
  capture: Op[] | undefined;
}

interface MockModule {
  readonly entries: ReadonlySet<string>;
}

interface MockFunction {
  readonly program: KernelProgram;
}

interface MockEvent {
  readonly timing: boolean;
  at: number | undefined;
}

const DESCRIPTIONS: Readonly<Record<number, string>> = {
  [CUDA.ERROR_INVALID_VALUE]: "invalid argument",
  [CUDA.ERROR_OUT_OF_MEMORY]: "out of memory",
  [CUDA.ERROR_NOT_INITIALIZED]: "initialization error",
  [CUDA.ERROR_INVALID_IMAGE]: "device kernel image is invalid",
  [CUDA.ERROR_INVALID_HANDLE]: "invalid resource handle",
  [CUDA.ERROR_NOT_FOUND]: "named symbol not found",
  [CUDA.ERROR_ILLEGAL_ADDRESS]: "an illegal memory access was encountered",
  [CUDA.ERROR_STREAM_CAPTURE_UNSUPPORTED]: "operation not permitted when stream is capturing",
  [CUDA.ERROR_STREAM_CAPTURE_INVALIDATED]: "operation failed due to a previous error during capture",
};

const fail = (call: string, code: number, detail?: string): never => {
  throw new CudaError(call, code, ERROR_NAMES[code] ?? `CUresult ${code}`, DESCRIPTIONS[code] ?? "error", detail);
};

/** The entry points a module image defines: `.entry` lines of PTX, `.text.<name>` sections of a cubin. */
export function moduleEntries(image: Uint8Array): Set<string> {
  const text = new TextDecoder("latin1").decode(image);
  const elf = image[0] === 0x7f && text.startsWith("\x7fELF");
  const pattern = elf ? /\.text\.([A-Za-z_][A-Za-z0-9_]*)\0/g : /\.entry\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(/g;
  return new Set([...text.matchAll(pattern)].map((m) => m[1]!));
}

/**
 * A CUDA driver with no GPU: device memory is host memory behind fake 64-bit addresses, each launch
 * runs its kernel in @densessm/gpu's interpreter (the kernel is found by its entry name, as
 * cuModuleGetFunction finds it in the module), streams run their work as it is issued, and stream
 * capture records launches and copies into graphs that replay them. It checks what the real driver
 * checks — block shape against the kernel's, argument count, pointers inside live allocations,
 * pageable copies during capture — and a kernel fault is sticky, like a real one: every later
 * call fails. `calls` counts calls by driver name, so tests can see launches and graph launches.
 */
export class MockDriver implements CudaDriver {
  readonly description = "mock driver (kernels run in the @densessm/gpu interpreter)";
  readonly calls: Record<string, number> = {};
  private readonly memory = new Map<DevicePointer, Allocation>();
  private readonly host = new Map<HostPointer, ArrayBuffer>();
  private nextDevice = 0x7f00_0000_0000n;
  private nextHost = 0x1000_0000n;
  private used = 0;
  private initialised = false;
  private fault: CudaError | undefined;
  private readonly capacity: number;
  private readonly debug: boolean;
  private readonly execute: boolean;
  private readonly version: number;
  private readonly capability: readonly [number, number];

  constructor(options: MockDriverOptions = {}) {
    this.debug = options.debug ?? false;
    this.execute = options.execute ?? true;
    this.capacity = options.memoryBytes ?? (options.execute === false ? 2 ** 50 : 16 * 2 ** 30);
    this.version = options.driverVersion ?? 12020;
    this.capability = options.computeCapability ?? [8, 0];
  }

  /** Bytes allocated on the "device" now. */
  get allocatedBytes(): number {
    return this.used;
  }

  private count(call: string): void {
    this.calls[call] = (this.calls[call] ?? 0) + 1;
    if (this.fault) throw this.fault;
    if (!this.initialised && call !== "cuInit" && call !== "cuDriverGetVersion") fail(call, CUDA.ERROR_NOT_INITIALIZED);
  }

  driverVersion(): number {
    this.count("cuDriverGetVersion");
    return this.version;
  }

  init(): void {
    this.initialised = true;
    this.count("cuInit");
  }

  deviceCount(): number {
    this.count("cuDeviceGetCount");
    return 1;
  }

  device(ordinal: number): number {
    this.count("cuDeviceGet");
    if (ordinal !== 0) fail("cuDeviceGet", CUDA.ERROR_INVALID_DEVICE);
    return 0;
  }

  deviceName(): string {
    this.count("cuDeviceGetName");
    return "Mock GPU (interpreter)";
  }

  deviceAttribute(attribute: number): number {
    this.count("cuDeviceGetAttribute");
    switch (attribute) {
      case DEVICE_ATTRIBUTE.computeCapabilityMajor:
        return this.capability[0];
      case DEVICE_ATTRIBUTE.computeCapabilityMinor:
        return this.capability[1];
      case DEVICE_ATTRIBUTE.maxThreadsPerBlock:
        return 1024;
      case DEVICE_ATTRIBUTE.maxSharedMemoryPerBlock:
        return 48 * 1024;
      case DEVICE_ATTRIBUTE.multiprocessorCount:
        return 1;
      default:
        return fail("cuDeviceGetAttribute", CUDA.ERROR_INVALID_VALUE, `attribute ${attribute}`);
    }
  }

  deviceTotalMemory(): number {
    this.count("cuDeviceTotalMem");
    return this.capacity;
  }

  retainPrimaryContext(): CuContext {
    this.count("cuDevicePrimaryCtxRetain");
    return {} as CuContext;
  }

  releasePrimaryContext(): void {
    this.count("cuDevicePrimaryCtxRelease");
  }

  memoryInfo(): { free: number; total: number } {
    this.count("cuMemGetInfo");
    return { free: this.capacity - this.used, total: this.capacity };
  }

  memAlloc(bytes: number): DevicePointer {
    this.count("cuMemAlloc");
    if (!(bytes > 0)) fail("cuMemAlloc", CUDA.ERROR_INVALID_VALUE, `${bytes} bytes`);
    if (this.used + bytes > this.capacity) fail("cuMemAlloc", CUDA.ERROR_OUT_OF_MEMORY);
    const pointer = this.nextDevice;
    // Addresses are never reused, so a stale pointer is always caught.
    this.nextDevice += BigInt(Math.ceil(bytes / 256) * 256 + 256);
    this.memory.set(pointer, { data: new ArrayBuffer(this.execute ? bytes : 0), bytes });
    this.used += bytes;
    return pointer;
  }

  memFree(pointer: DevicePointer): void {
    this.count("cuMemFree");
    const a = this.memory.get(pointer) ?? fail("cuMemFree", CUDA.ERROR_INVALID_VALUE, `0x${pointer.toString(16)} is not an allocation`);
    this.used -= a.bytes;
    this.memory.delete(pointer);
  }

  memAllocHost(bytes: number): HostPointer {
    this.count("cuMemAllocHost");
    const pointer = this.nextHost;
    this.nextHost += BigInt(Math.ceil(bytes / 4096) * 4096 + 4096);
    this.host.set(pointer, new ArrayBuffer(bytes));
    return pointer;
  }

  memFreeHost(pointer: HostPointer): void {
    this.count("cuMemFreeHost");
    if (!this.host.delete(pointer)) fail("cuMemFreeHost", CUDA.ERROR_INVALID_VALUE);
  }

  hostView(pointer: HostPointer, bytes: number): ArrayBuffer {
    const data = this.host.get(pointer) ?? fail("hostView", CUDA.ERROR_INVALID_VALUE, "not a page-locked allocation");
    if (bytes > data.byteLength) fail("hostView", CUDA.ERROR_INVALID_VALUE, `${bytes} bytes of a ${data.byteLength}-byte allocation`);
    return data;
  }

  /** The device bytes [pointer, pointer + bytes): inside one live allocation, or CUDA_ERROR_ILLEGAL_ADDRESS. */
  private deviceBytes(call: string, pointer: DevicePointer, bytes: number): Uint8Array {
    for (const [base, a] of this.memory) {
      const offset = Number(pointer - base);
      if (offset >= 0 && offset + bytes <= a.bytes) return new Uint8Array(a.data, offset, this.execute ? bytes : 0);
    }
    return fail(call, CUDA.ERROR_ILLEGAL_ADDRESS, `[0x${pointer.toString(16)}, +${bytes}) is not inside a live allocation`);
  }

  /** Runs `op` now, or records it in a capture as a node described by `node` (graph updates compare these). */
  private enqueue(call: string, stream: CuStream, op: () => void, node = call): void {
    const s = stream as unknown as MockStream;
    if (s.capture) s.capture.push(Object.assign(op, { node }));
    else this.run(call, op);
  }

  private run(call: string, op: Op): void {
    try {
      op();
    } catch (e) {
      if (e instanceof CudaError) throw e;
      // A kernel that faults poisons the context, as on a GPU: this and every later call fail.
      this.fault = new CudaError(call, CUDA.ERROR_ILLEGAL_ADDRESS, "CUDA_ERROR_ILLEGAL_ADDRESS", DESCRIPTIONS[CUDA.ERROR_ILLEGAL_ADDRESS]!, (e as Error).message);
      throw this.fault;
    }
  }

  memcpyHtoDAsync(destination: DevicePointer, source: ArrayBufferView, bytes: number, stream: CuStream): void {
    this.count("cuMemcpyHtoDAsync");
    if ((stream as unknown as MockStream).capture) fail("cuMemcpyHtoDAsync", CUDA.ERROR_STREAM_CAPTURE_UNSUPPORTED, "a copy from pageable memory cannot be captured");
    const into = this.deviceBytes("cuMemcpyHtoDAsync", destination, bytes);
    if (this.execute) into.set(new Uint8Array(source.buffer, source.byteOffset, bytes));
  }

  memcpyDtoHAsync(destination: HostPointer, source: DevicePointer, bytes: number, stream: CuStream): void {
    this.count("cuMemcpyDtoHAsync");
    const host = new Uint8Array(this.hostView(destination, bytes), 0, bytes);
    this.enqueue("cuMemcpyDtoHAsync", stream, () => host.set(this.deviceBytes("cuMemcpyDtoHAsync", source, bytes)));
  }

  memcpyDtoDAsync(destination: DevicePointer, source: DevicePointer, bytes: number, stream: CuStream): void {
    this.count("cuMemcpyDtoDAsync");
    this.enqueue("cuMemcpyDtoDAsync", stream, () => this.deviceBytes("cuMemcpyDtoDAsync", destination, bytes).set(this.deviceBytes("cuMemcpyDtoDAsync", source, bytes)));
  }

  moduleLoadData(image: Uint8Array): CuModule {
    this.count("cuModuleLoadData");
    const entries = moduleEntries(image);
    if (entries.size === 0) fail("cuModuleLoadData", CUDA.ERROR_INVALID_IMAGE, "no kernel entry in the image");
    return { entries } as unknown as CuModule;
  }

  moduleUnload(): void {
    this.count("cuModuleUnload");
  }

  moduleGetFunction(module: CuModule, name: string): CuFunction {
    this.count("cuModuleGetFunction");
    if (!(module as unknown as MockModule).entries.has(name)) fail(`cuModuleGetFunction(${name})`, CUDA.ERROR_NOT_FOUND, "not in the module");
    const program = programByEntry(name) ?? fail(`cuModuleGetFunction(${name})`, CUDA.ERROR_NOT_FOUND, "no kernel of that entry was specialized in this process");
    return { program } as MockFunction as unknown as CuFunction;
  }

  kernelArgs(values: Uint8Array, count: number): KernelArgs {
    return { values: values.slice(), count };
  }

  launchKernel(fn: CuFunction, grid: Dim3, block: Dim3, sharedBytes: number, stream: CuStream, args: KernelArgs): void {
    this.count("cuLaunchKernel");
    const { program } = fn as unknown as MockFunction;
    const { storage, params } = program.ir;
    const size = program.workgroupSize;
    if (block.some((b, i) => b !== size[i])) fail("cuLaunchKernel", CUDA.ERROR_INVALID_VALUE, `${program.entry} is compiled for blocks of ${size.join("x")}, launched with ${block.join("x")}`);
    if (grid.some((g, i) => !Number.isInteger(g) || g < 1 || g > (i === 0 ? 2 ** 31 - 1 : 65535))) fail("cuLaunchKernel", CUDA.ERROR_INVALID_VALUE, `grid ${grid.join("x")}`);
    if (sharedBytes !== 0) fail("cuLaunchKernel", CUDA.ERROR_INVALID_VALUE, "the kernels use no dynamic shared memory");
    if (args.count !== storage.length + params.length) fail("cuLaunchKernel", CUDA.ERROR_INVALID_VALUE, `${program.entry} takes ${storage.length + params.length} arguments, got ${args.count}`);
    // The arguments are read now, as cuLaunchKernel (and capture) reads them.
    const slots = new DataView(args.values.buffer, args.values.byteOffset, args.values.byteLength);
    const pointers = storage.map((_, i) => slots.getBigUint64(8 * i, true));
    const words = params.length ? Uint32Array.from(params, (_, j) => slots.getUint32(8 * (storage.length + j), true)) : undefined;
    if (!this.execute) return;
    const kernel = program.interpreter(this.debug);
    this.enqueue("cuLaunchKernel", stream, () => {
      const views = storage.map((s, i) => {
        const base = pointers[i]!;
        for (const [start, a] of this.memory) {
          const offset = Number(base - start);
          if (offset >= 0 && offset < a.data.byteLength) return storageView(s.elem, a.data, offset, a.data.byteLength - offset);
        }
        throw new Error(`${program.entry}: argument "${s.name}" (0x${base.toString(16)}) is not a live allocation`);
      });
      kernel.run(views, words, grid);
    }, `kernel ${program.entry} ${grid.join("x")}`);
  }

  streamCreate(): CuStream {
    this.count("cuStreamCreate");
    return { capture: undefined } as MockStream as unknown as CuStream;
  }

  streamDestroy(): void {
    this.count("cuStreamDestroy");
  }

  private notCapturing(call: string, stream: CuStream): void {
    if ((stream as unknown as MockStream).capture) fail(call, CUDA.ERROR_STREAM_CAPTURE_UNSUPPORTED);
  }

  streamSynchronize(stream: CuStream): void {
    this.count("cuStreamSynchronize");
    this.notCapturing("cuStreamSynchronize", stream);
  }

  eventCreate(timing: boolean): CuEvent {
    this.count("cuEventCreate");
    return { timing, at: undefined } as MockEvent as unknown as CuEvent;
  }

  eventRecord(event: CuEvent, stream: CuStream): void {
    this.count("cuEventRecord");
    const e = event as unknown as MockEvent;
    this.enqueue("cuEventRecord", stream, () => (e.at = performance.now()));
  }

  eventQuery(): boolean {
    this.count("cuEventQuery");
    return true; // work runs as it is issued
  }

  eventSynchronize(): void {
    this.count("cuEventSynchronize");
  }

  eventElapsedTime(start: CuEvent, end: CuEvent): number {
    this.count("cuEventElapsedTime");
    const [a, b] = [start as unknown as MockEvent, end as unknown as MockEvent];
    if (!a.timing || !b.timing || a.at === undefined || b.at === undefined) fail("cuEventElapsedTime", CUDA.ERROR_INVALID_HANDLE, "both events must be timing events, recorded");
    return b.at! - a.at!;
  }

  eventDestroy(): void {
    this.count("cuEventDestroy");
  }

  streamBeginCapture(stream: CuStream): void {
    this.count("cuStreamBeginCapture");
    this.notCapturing("cuStreamBeginCapture", stream);
    (stream as unknown as MockStream).capture = [];
  }

  streamEndCapture(stream: CuStream): CuGraph {
    this.count("cuStreamEndCapture");
    const s = stream as unknown as MockStream;
    const ops = s.capture ?? fail("cuStreamEndCapture", CUDA.ERROR_INVALID_VALUE, "the stream is not capturing");
    s.capture = undefined;
    return { ops } as unknown as CuGraph;
  }

  graphInstantiate(graph: CuGraph): CuGraphExec {
    this.count("cuGraphInstantiate");
    return { ops: [...(graph as unknown as { ops: Op[] }).ops] } as unknown as CuGraphExec;
  }

  graphExecUpdate(exec: CuGraphExec, graph: CuGraph): boolean {
    this.count("cuGraphExecUpdate");
    const target = exec as unknown as { ops: Op[] };
    const source = (graph as unknown as { ops: Op[] }).ops;
    // As the driver: the same nodes in the same order (a kernel node keeps its kernel); only arguments and addresses change.
    if (source.length !== target.ops.length || source.some((op, i) => op.node !== target.ops[i]!.node)) return false;
    target.ops = [...source];
    return true;
  }

  graphLaunch(exec: CuGraphExec, stream: CuStream): void {
    this.count("cuGraphLaunch");
    const { ops } = exec as unknown as { ops: Op[] };
    this.enqueue("cuGraphLaunch", stream, () => ops.forEach((op) => op()));
  }

  graphExecDestroy(): void {
    this.count("cuGraphExecDestroy");
  }

  graphDestroy(): void {
    this.count("cuGraphDestroy");
  }
}

/**
 * A stand-in for NVRTC beside the mock driver: it writes a PTX-shaped module that declares the
 * translation unit's `extern "C" __global__` entry points with empty bodies, which is all the mock
 * driver reads (it runs the kernels from their IR). The CUDA sources themselves are compiled by
 * real compilers in the compile checks (nvcc, NVRTC 11.8).
 */
export class MockCompiler implements KernelCompiler {
  readonly description = "mock compiler (entry points only)";
  readonly version = 11080;
  readonly architectures = [80, 86, 90];
  units = 0;

  compile(source: string, arch: number): CompiledImage {
    this.units++;
    const entries = [...source.matchAll(/extern "C" __global__ void (?:__launch_bounds__\(\d+\) )?([A-Za-z_][A-Za-z0-9_]*)\(/g)].map((m) => m[1]!);
    const text = [`// ${this.description}`, ".version 7.8", `.target sm_${arch}`, ".address_size 64", ...entries.map((e) => `.visible .entry ${e}()\n{\n\tret;\n}`), ""].join("\n");
    return { kind: "ptx", image: new TextEncoder().encode(text) };
  }
}
