// The CUDA driver API as this backend uses it: one TypeScript interface, implemented twice. The
// FFI driver (ffi.ts) calls libcuda.so.1 through koffi; the mock driver (mock.ts) keeps "device"
// memory on the host and runs every launch in @densessm/gpu's interpreter, so everything above
// this interface (the allocator, argument blocks, streams, events, CUDA graphs, the runtime, the
// backend) runs in CI without a GPU. Every method throws a CudaError when the call fails.

/** A device address (CUdeviceptr). */
export type DevicePointer = bigint;
/** A page-locked host allocation's address (cuMemAllocHost). */
export type HostPointer = bigint;

declare const brand: unique symbol;
/** An opaque driver handle: a koffi pointer for the FFI driver, an object for the mock. */
export type Handle<Kind extends string> = { readonly [brand]: Kind };
export type CuContext = Handle<"CUcontext">;
export type CuModule = Handle<"CUmodule">;
export type CuFunction = Handle<"CUfunction">;
export type CuStream = Handle<"CUstream">;
export type CuEvent = Handle<"CUevent">;
export type CuGraph = Handle<"CUgraph">;
export type CuGraphExec = Handle<"CUgraphExec">;

export type Dim3 = readonly [number, number, number];

/**
 * A kernel's argument block, made once per binding: argument i's value is stored at byte 8·i of
 * `values` (pointers as 64-bit addresses; 32-bit parameters in the low 4 bytes), and the driver
 * adds what cuLaunchKernel's `void** kernelParams` needs (the FFI driver: one pointer per argument
 * into `values`). Both drivers read the same bytes.
 */
export interface KernelArgs {
  readonly values: Uint8Array;
  readonly count: number;
}

/** cuDeviceGetAttribute attributes this backend reads. */
export const DEVICE_ATTRIBUTE = {
  maxThreadsPerBlock: 1,
  maxSharedMemoryPerBlock: 8,
  multiprocessorCount: 16,
  computeCapabilityMajor: 75,
  computeCapabilityMinor: 76,
} as const;

export interface CudaDriver {
  /** Where the driver came from, for messages: "libcuda.so.1 at /usr/lib/...", "mock driver". */
  readonly description: string;
  /** cuDriverGetVersion: 1000 · major + 10 · minor (12020 is CUDA 12.2). Works before init. */
  driverVersion(): number;
  init(): void;
  deviceCount(): number;
  device(ordinal: number): number;
  deviceName(device: number): string;
  deviceAttribute(attribute: number, device: number): number;
  deviceTotalMemory(device: number): number;
  /** Retains the device's primary context and makes it current on this thread. */
  retainPrimaryContext(device: number): CuContext;
  releasePrimaryContext(device: number): void;
  memoryInfo(): { free: number; total: number };

  memAlloc(bytes: number): DevicePointer;
  memFree(pointer: DevicePointer): void;
  memAllocHost(bytes: number): HostPointer;
  memFreeHost(pointer: HostPointer): void;
  /** The bytes of a page-locked host allocation, as an ArrayBuffer over that memory (no copy). */
  hostView(pointer: HostPointer, bytes: number): ArrayBuffer;
  /** Host to device. From pageable memory the call returns once `source` has been copied out. */
  memcpyHtoDAsync(destination: DevicePointer, source: ArrayBufferView, bytes: number, stream: CuStream): void;
  /** Device to page-locked host memory. */
  memcpyDtoHAsync(destination: HostPointer, source: DevicePointer, bytes: number, stream: CuStream): void;
  memcpyDtoDAsync(destination: DevicePointer, source: DevicePointer, bytes: number, stream: CuStream): void;

  /** Loads PTX (NUL-terminated text) or a cubin; a JIT error's log is in the CudaError. */
  moduleLoadData(image: Uint8Array): CuModule;
  moduleUnload(module: CuModule): void;
  moduleGetFunction(module: CuModule, name: string): CuFunction;
  /** Builds the argument block of a launch from its 8-byte slots (see KernelArgs). */
  kernelArgs(values: Uint8Array, count: number): KernelArgs;
  launchKernel(fn: CuFunction, grid: Dim3, block: Dim3, sharedBytes: number, stream: CuStream, args: KernelArgs): void;

  streamCreate(): CuStream;
  streamDestroy(stream: CuStream): void;
  streamSynchronize(stream: CuStream): void;
  eventCreate(timing: boolean): CuEvent;
  eventRecord(event: CuEvent, stream: CuStream): void;
  /** Whether the work before the event has finished (CUDA_ERROR_NOT_READY is false, not an error). */
  eventQuery(event: CuEvent): boolean;
  eventSynchronize(event: CuEvent): void;
  /** Milliseconds between two recorded (timing) events. */
  eventElapsedTime(start: CuEvent, end: CuEvent): number;
  eventDestroy(event: CuEvent): void;

  /** Stream capture: launches and copies on `stream` are recorded into a graph instead of run. */
  streamBeginCapture(stream: CuStream): void;
  streamEndCapture(stream: CuStream): CuGraph;
  graphInstantiate(graph: CuGraph): CuGraphExec;
  /** Writes a graph of the same topology into `exec` (new kernel arguments, copy addresses); false when the topologies differ. */
  graphExecUpdate(exec: CuGraphExec, graph: CuGraph): boolean;
  graphLaunch(exec: CuGraphExec, stream: CuStream): void;
  graphExecDestroy(exec: CuGraphExec): void;
  graphDestroy(graph: CuGraph): void;
}
