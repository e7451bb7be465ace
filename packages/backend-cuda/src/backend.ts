import { BackendError } from "@densessm/core";
import { GpuBackend, type GpuBackendOptions } from "@densessm/gpu";
import type { CudaDriver } from "./driver/api.js";
import { loadDriver } from "./driver/ffi.js";
import { KernelLoader } from "./kernels/loader.js";
import { shippedPtx, type ShippedPtx } from "./kernels/ptx.js";
import { findNvrtc, type KernelCompiler } from "./nvrtc/nvrtc.js";
import { driverStatus, type CudaDevice } from "./probe.js";
import type { DeviceBuffer } from "./runtime/allocator.js";
import { CudaRuntime, type CudaRuntimeOptions } from "./runtime/runtime.js";

export interface CudaBackendOptions extends GpuBackendOptions, CudaRuntimeOptions {
  /** The driver: by default libcuda.so.1 through koffi; tests pass a MockDriver. */
  readonly driver?: CudaDriver;
  /** The compiler for kernels the shipped PTX lacks: by default the first usable NVRTC, found on first need; null for none. */
  readonly compiler?: KernelCompiler | null;
  /** The precompiled kernels: by default the PTX set built with the package; null for none. */
  readonly ptx?: ShippedPtx | null;
}

/**
 * The GPU executor of @densessm/gpu on an NVIDIA GPU through the CUDA driver API: every kernel is
 * the CUDA C++ the kernel language emits, from the shipped PTX or compiled by NVRTC, launched by
 * CudaRuntime. Create it with `CudaBackend.create()`, or through the registry as "cuda".
 */
export class CudaBackend extends GpuBackend<DeviceBuffer> {
  declare readonly runtime: CudaRuntime;

  private constructor(
    runtime: CudaRuntime,
    /** The GPU it runs on. */
    readonly device: CudaDevice,
    /** cuDriverGetVersion (12020 is CUDA 12.2) and where the driver came from. */
    readonly driverVersion: number,
    readonly driverDescription: string,
    readonly loader: KernelLoader,
    options: GpuBackendOptions,
  ) {
    super("cuda", runtime, options);
  }

  /** A backend on this machine's GPU (`device`, default 0); throws a BackendError saying why there is none. */
  static async create(options: CudaBackendOptions = {}): Promise<CudaBackend> {
    let driver = options.driver;
    if (!driver) {
      const load = await loadDriver();
      if ("reason" in load) throw new BackendError(`cuda: ${load.reason}`);
      driver = load.driver;
    }
    const status = driverStatus(driver);
    if (!status.available) throw new BackendError(`cuda: ${status.reason}`);
    const ordinal = options.device ?? 0;
    const device = status.devices[ordinal];
    if (!device) throw new BackendError(`cuda: no device ${ordinal} (this machine has ${status.devices.length})`);
    // mma.sync with bfloat16 / TF32 inputs is sm_80 (Ampere) and newer.
    if (options.matmul && options.matmul !== "f32" && device.capability < 80) throw new BackendError(`cuda: ${options.matmul} tensor-core products need compute capability 8.0 or newer; ${device.name} is ${Math.floor(device.capability / 10)}.${device.capability % 10}`);
    const handle = driver.device(ordinal);
    driver.retainPrimaryContext(handle);
    const given = options.compiler;
    const loader = new KernelLoader(driver, {
      shipped: options.ptx === null ? undefined : (options.ptx ?? shippedPtx()),
      compiler: async () => {
        if (given) return given;
        if (given === null) return "run-time compilation is off (compiler: null)";
        const found = await findNvrtc(status.driverVersion);
        return "compiler" in found ? found.compiler : found.reason;
      },
      capability: device.capability,
      driverVersion: status.driverVersion,
    });
    const runtime = new CudaRuntime(driver, handle, loader, options);
    return new CudaBackend(runtime, device, status.driverVersion, driver.description, loader, options);
  }

  /** Waits until all submitted work has run (benchmarks time with it). */
  synchronize(): Promise<void> {
    return this.runtime.synchronize();
  }
}
