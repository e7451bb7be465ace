import type { CudaDriver, CuContext, CuEvent, CuFunction, CuGraph, CuGraphExec, CuModule, CuStream, DevicePointer, Dim3, HostPointer, KernelArgs } from "./api.js";
import { CUDA, CudaError, ERROR_NAMES } from "./errors.js";
import { bindAll, loadKoffi, open, type Koffi, type KoffiFunction } from "./koffi.js";

/**
 * The driver symbols this backend calls, with the versioned names cuda.h maps them to. The newest
 * is cuGraphInstantiateWithFlags (CUDA 11.4); every driver that can JIT the shipped PTX (R520,
 * CUDA 11.8, and later) has them all.
 */
export const DRIVER_SYMBOLS = {
  getErrorName: "int cuGetErrorName(int error, _Out_ const char **name)",
  getErrorString: "int cuGetErrorString(int error, _Out_ const char **text)",
  driverGetVersion: "int cuDriverGetVersion(_Out_ int *version)",
  init: "int cuInit(unsigned int flags)",
  deviceGetCount: "int cuDeviceGetCount(_Out_ int *count)",
  deviceGet: "int cuDeviceGet(_Out_ int *device, int ordinal)",
  deviceGetName: "int cuDeviceGetName(_Out_ uint8_t *name, int length, int device)",
  deviceGetAttribute: "int cuDeviceGetAttribute(_Out_ int *value, int attribute, int device)",
  deviceTotalMem: "int cuDeviceTotalMem_v2(_Out_ size_t *bytes, int device)",
  primaryCtxRetain: "int cuDevicePrimaryCtxRetain(_Out_ void **context, int device)",
  primaryCtxRelease: "int cuDevicePrimaryCtxRelease_v2(int device)",
  ctxSetCurrent: "int cuCtxSetCurrent(void *context)",
  memGetInfo: "int cuMemGetInfo_v2(_Out_ size_t *free, _Out_ size_t *total)",
  memAlloc: "int cuMemAlloc_v2(_Out_ uint64_t *pointer, size_t bytes)",
  memFree: "int cuMemFree_v2(uint64_t pointer)",
  memAllocHost: "int cuMemAllocHost_v2(_Out_ void **pointer, size_t bytes)",
  memFreeHost: "int cuMemFreeHost(void *pointer)",
  memcpyHtoDAsync: "int cuMemcpyHtoDAsync_v2(uint64_t destination, const void *source, size_t bytes, void *stream)",
  memcpyDtoHAsync: "int cuMemcpyDtoHAsync_v2(void *destination, uint64_t source, size_t bytes, void *stream)",
  memcpyDtoDAsync: "int cuMemcpyDtoDAsync_v2(uint64_t destination, uint64_t source, size_t bytes, void *stream)",
  moduleLoadDataEx: "int cuModuleLoadDataEx(_Out_ void **module, const void *image, unsigned int count, const int *options, void *values)",
  moduleUnload: "int cuModuleUnload(void *module)",
  moduleGetFunction: "int cuModuleGetFunction(_Out_ void **fn, void *module, const char *name)",
  launchKernel: "int cuLaunchKernel(void *fn, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx, unsigned int by, unsigned int bz, unsigned int shared, void *stream, void *params, void *extra)",
  streamCreate: "int cuStreamCreate(_Out_ void **stream, unsigned int flags)",
  streamDestroy: "int cuStreamDestroy_v2(void *stream)",
  streamSynchronize: "int cuStreamSynchronize(void *stream)",
  eventCreate: "int cuEventCreate(_Out_ void **event, unsigned int flags)",
  eventRecord: "int cuEventRecord(void *event, void *stream)",
  eventQuery: "int cuEventQuery(void *event)",
  eventSynchronize: "int cuEventSynchronize(void *event)",
  eventElapsedTime: "int cuEventElapsedTime(_Out_ float *milliseconds, void *start, void *end)",
  eventDestroy: "int cuEventDestroy_v2(void *event)",
  streamBeginCapture: "int cuStreamBeginCapture_v2(void *stream, int mode)",
  streamEndCapture: "int cuStreamEndCapture(void *stream, _Out_ void **graph)",
  graphInstantiate: "int cuGraphInstantiateWithFlags(_Out_ void **exec, void *graph, unsigned long long flags)",
  graphExecUpdate: "int cuGraphExecUpdate(void *exec, void *graph, _Out_ void **errorNode, _Out_ int *result)",
  graphLaunch: "int cuGraphLaunch(void *exec, void *stream)",
  graphExecDestroy: "int cuGraphExecDestroy(void *exec)",
  graphDestroy: "int cuGraphDestroy(void *graph)",
} as const;

type Symbols = Record<keyof typeof DRIVER_SYMBOLS, KoffiFunction>;

/** Where libcuda.so.1 is looked for after the DENSESSM_LIBCUDA override and the dynamic linker's own search. */
export const LIBCUDA_DIRS = [
  "/usr/lib/x86_64-linux-gnu",
  "/usr/lib/x86_64-linux-gnu/nvidia/current", // Debian's libcuda1
  "/usr/lib64",
  "/usr/local/nvidia/lib64", // NVIDIA's container toolkit
  "/usr/lib/wsl/lib", // WSL 2
];

const STREAM_NON_BLOCKING = 1;
const EVENT_DISABLE_TIMING = 2;
const CAPTURE_MODE_THREAD_LOCAL = 1;
const JIT_ERROR_LOG_BUFFER = 5;
const JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6;
const JIT_LOG_BYTES = 16384;

/** Whether a driver library was found, and if not, every place that was tried and why it failed. */
export type DriverLoad = { driver: FfiDriver } | { reason: string };

/**
 * Opens libcuda.so.1 and binds every symbol: `DENSESSM_LIBCUDA` (a path) if set, else the dynamic
 * linker's search, else LIBCUDA_DIRS. Nothing is initialised yet (cuInit is the caller's).
 */
export async function loadDriver(env: Readonly<Record<string, string | undefined>> = process.env): Promise<DriverLoad> {
  let koffi: Koffi;
  try {
    koffi = await loadKoffi();
  } catch (e) {
    return { reason: (e as Error).message };
  }
  const override = env.DENSESSM_LIBCUDA;
  const candidates = override ? [override] : ["libcuda.so.1", ...LIBCUDA_DIRS.map((d) => `${d}/libcuda.so.1`)];
  const failures: string[] = [];
  for (const path of candidates) {
    const library = open(koffi, path);
    if (typeof library === "string") {
      failures.push(library);
      continue;
    }
    const symbols = bindAll(library, DRIVER_SYMBOLS);
    if ("missing" in symbols) return { reason: `${path} has no ${symbols.missing}: the NVIDIA driver is older than CUDA 11.4; update it (R520 or newer)` };
    return { driver: new FfiDriver(koffi, symbols, path) };
  }
  const where = override ? `DENSESSM_LIBCUDA=${override}` : `the dynamic linker's path and ${LIBCUDA_DIRS.join(", ")}`;
  const notFound = failures.every((f) => /cannot open shared object file|No such file/i.test(f));
  return { reason: `no NVIDIA driver library (libcuda.so.1) in ${where}${notFound ? "" : ` (${failures.find((f) => !/No such file/i.test(f))})`}: install the NVIDIA driver` };
}

/** The CUDA driver API through koffi (see api.ts for what each call does). */
export class FfiDriver implements CudaDriver {
  readonly description: string;
  private readonly logBuffer = Buffer.alloc(JIT_LOG_BYTES);

  constructor(
    private readonly koffi: Koffi,
    private readonly cu: Symbols,
    readonly path: string,
  ) {
    this.description = `libcuda.so.1 at ${path}`;
  }

  /** The driver's name and description of a CUresult (cuGetErrorName / cuGetErrorString). */
  describe(code: number): { name: string; text: string } {
    const out: (string | null)[] = [null];
    const name = this.cu.getErrorName(code, out) === 0 && out[0] ? out[0] : (ERROR_NAMES[code] ?? `CUresult ${code}`);
    const text = this.cu.getErrorString(code, out) === 0 && out[0] ? out[0] : "no description";
    return { name, text };
  }

  private check(call: string, code: number, detail?: string): void {
    if (code === CUDA.SUCCESS) return;
    const { name, text } = this.describe(code);
    throw new CudaError(call, code, name, text, detail);
  }

  private int(call: string, fn: KoffiFunction, ...args: unknown[]): number {
    const out = [0];
    this.check(call, fn(out, ...args) as number);
    return Number(out[0]);
  }

  private handle<T>(call: string, fn: KoffiFunction, ...args: unknown[]): T {
    const out: unknown[] = [null];
    this.check(call, fn(out, ...args) as number);
    return out[0] as T;
  }

  driverVersion(): number {
    return this.int("cuDriverGetVersion", this.cu.driverGetVersion);
  }

  init(): void {
    this.check("cuInit", this.cu.init(0) as number);
  }

  deviceCount(): number {
    return this.int("cuDeviceGetCount", this.cu.deviceGetCount);
  }

  device(ordinal: number): number {
    return this.int("cuDeviceGet", this.cu.deviceGet, ordinal);
  }

  deviceName(device: number): string {
    const name = Buffer.alloc(256);
    this.check("cuDeviceGetName", this.cu.deviceGetName(name, name.length, device) as number);
    return name.toString("utf8", 0, Math.max(0, name.indexOf(0)));
  }

  deviceAttribute(attribute: number, device: number): number {
    return this.int("cuDeviceGetAttribute", this.cu.deviceGetAttribute, attribute, device);
  }

  deviceTotalMemory(device: number): number {
    return this.int("cuDeviceTotalMem", this.cu.deviceTotalMem, device);
  }

  retainPrimaryContext(device: number): CuContext {
    const context = this.handle<CuContext>("cuDevicePrimaryCtxRetain", this.cu.primaryCtxRetain, device);
    this.check("cuCtxSetCurrent", this.cu.ctxSetCurrent(context) as number);
    return context;
  }

  releasePrimaryContext(device: number): void {
    this.check("cuDevicePrimaryCtxRelease", this.cu.primaryCtxRelease(device) as number);
  }

  memoryInfo(): { free: number; total: number } {
    const [free, total] = [[0], [0]];
    this.check("cuMemGetInfo", this.cu.memGetInfo(free, total) as number);
    return { free: Number(free[0]), total: Number(total[0]) };
  }

  memAlloc(bytes: number): DevicePointer {
    const out: (number | bigint)[] = [0];
    this.check("cuMemAlloc", this.cu.memAlloc(out, bytes) as number);
    return BigInt(out[0]!); // koffi gives a number below 2^53, a bigint above
  }

  memFree(pointer: DevicePointer): void {
    this.check("cuMemFree", this.cu.memFree(pointer) as number);
  }

  memAllocHost(bytes: number): HostPointer {
    return this.handle<HostPointer>("cuMemAllocHost", this.cu.memAllocHost, bytes);
  }

  memFreeHost(pointer: HostPointer): void {
    this.check("cuMemFreeHost", this.cu.memFreeHost(pointer) as number);
  }

  hostView(pointer: HostPointer, bytes: number): ArrayBuffer {
    return this.koffi.view(pointer, bytes);
  }

  memcpyHtoDAsync(destination: DevicePointer, source: ArrayBufferView, bytes: number, stream: CuStream): void {
    this.check("cuMemcpyHtoDAsync", this.cu.memcpyHtoDAsync(destination, source, bytes, stream) as number);
  }

  memcpyDtoHAsync(destination: HostPointer, source: DevicePointer, bytes: number, stream: CuStream): void {
    this.check("cuMemcpyDtoHAsync", this.cu.memcpyDtoHAsync(destination, source, bytes, stream) as number);
  }

  memcpyDtoDAsync(destination: DevicePointer, source: DevicePointer, bytes: number, stream: CuStream): void {
    this.check("cuMemcpyDtoDAsync", this.cu.memcpyDtoDAsync(destination, source, bytes, stream) as number);
  }

  moduleLoadData(image: Uint8Array): CuModule {
    // The JIT's error log (a PTX the driver rejects) goes into the error message.
    const log = this.logBuffer.fill(0);
    const options = Int32Array.of(JIT_ERROR_LOG_BUFFER_SIZE_BYTES, JIT_ERROR_LOG_BUFFER);
    const values = BigUint64Array.of(BigInt(log.length), this.koffi.address(log));
    const out: unknown[] = [null];
    const code = this.cu.moduleLoadDataEx(out, image, options.length, options, values) as number;
    this.check("cuModuleLoadDataEx", code, log.toString("utf8", 0, Math.max(0, log.indexOf(0))).trim());
    return out[0] as CuModule;
  }

  moduleUnload(module: CuModule): void {
    this.check("cuModuleUnload", this.cu.moduleUnload(module) as number);
  }

  moduleGetFunction(module: CuModule, name: string): CuFunction {
    return this.handle<CuFunction>(`cuModuleGetFunction(${name})`, this.cu.moduleGetFunction, module, name);
  }

  kernelArgs(values: Uint8Array, count: number): KernelArgs & { readonly pointers: BigUint64Array } {
    // Off-heap memory (a fresh ArrayBuffer): V8 never moves it, so the addresses stay valid.
    const stable = new Uint8Array(new ArrayBuffer(Math.max(8, values.length)));
    stable.set(values);
    const base = this.koffi.address(stable);
    const pointers = new BigUint64Array(count);
    for (let i = 0; i < count; i++) pointers[i] = base + BigInt(8 * i);
    return { values: stable, count, pointers };
  }

  launchKernel(fn: CuFunction, grid: Dim3, block: Dim3, sharedBytes: number, stream: CuStream, args: KernelArgs): void {
    const { pointers } = args as KernelArgs & { pointers: BigUint64Array };
    this.check("cuLaunchKernel", this.cu.launchKernel(fn, grid[0], grid[1], grid[2], block[0], block[1], block[2], sharedBytes, stream, pointers, null) as number);
  }

  streamCreate(): CuStream {
    return this.handle<CuStream>("cuStreamCreate", this.cu.streamCreate, STREAM_NON_BLOCKING);
  }

  streamDestroy(stream: CuStream): void {
    this.check("cuStreamDestroy", this.cu.streamDestroy(stream) as number);
  }

  streamSynchronize(stream: CuStream): void {
    this.check("cuStreamSynchronize", this.cu.streamSynchronize(stream) as number);
  }

  eventCreate(timing: boolean): CuEvent {
    return this.handle<CuEvent>("cuEventCreate", this.cu.eventCreate, timing ? 0 : EVENT_DISABLE_TIMING);
  }

  eventRecord(event: CuEvent, stream: CuStream): void {
    this.check("cuEventRecord", this.cu.eventRecord(event, stream) as number);
  }

  eventQuery(event: CuEvent): boolean {
    const code = this.cu.eventQuery(event) as number;
    if (code === CUDA.ERROR_NOT_READY) return false;
    this.check("cuEventQuery", code);
    return true;
  }

  eventSynchronize(event: CuEvent): void {
    this.check("cuEventSynchronize", this.cu.eventSynchronize(event) as number);
  }

  eventElapsedTime(start: CuEvent, end: CuEvent): number {
    const out = [0];
    this.check("cuEventElapsedTime", this.cu.eventElapsedTime(out, start, end) as number);
    return out[0]!;
  }

  eventDestroy(event: CuEvent): void {
    this.check("cuEventDestroy", this.cu.eventDestroy(event) as number);
  }

  streamBeginCapture(stream: CuStream): void {
    this.check("cuStreamBeginCapture", this.cu.streamBeginCapture(stream, CAPTURE_MODE_THREAD_LOCAL) as number);
  }

  streamEndCapture(stream: CuStream): CuGraph {
    return this.handle<CuGraph>("cuStreamEndCapture", this.cu.streamEndCapture, stream);
  }

  graphInstantiate(graph: CuGraph): CuGraphExec {
    return this.handle<CuGraphExec>("cuGraphInstantiateWithFlags", this.cu.graphInstantiate, graph, 0);
  }

  graphExecUpdate(exec: CuGraphExec, graph: CuGraph): boolean {
    const code = this.cu.graphExecUpdate(exec, graph, [null], [0]) as number;
    if (code === CUDA.ERROR_GRAPH_EXEC_UPDATE_FAILURE) return false;
    this.check("cuGraphExecUpdate", code);
    return true;
  }

  graphLaunch(exec: CuGraphExec, stream: CuStream): void {
    this.check("cuGraphLaunch", this.cu.graphLaunch(exec, stream) as number);
  }

  graphExecDestroy(exec: CuGraphExec): void {
    this.check("cuGraphExecDestroy", this.cu.graphExecDestroy(exec) as number);
  }

  graphDestroy(graph: CuGraph): void {
    this.check("cuGraphDestroy", this.cu.graphDestroy(graph) as number);
  }
}
