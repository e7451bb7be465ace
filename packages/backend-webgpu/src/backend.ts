import { BackendError } from "@densessm/core";
import { GpuBackend, type GpuBackendOptions } from "@densessm/gpu";
import { acquireDevice, type AcquiredDevice } from "./device.js";
import { WebGpuRuntime } from "./runtime.js";

/**
 * Options of the WebGPU backend (those of every GPU executor backend): `matvec` picks the
 * matrix-vector form (by default "thread" on software adapters), `weights: "f16"` keeps linear
 * weights as packed float16 pairs (works on every adapter: the packing uses core WGSL, not the
 * shader-f16 extension), `fuse: false` turns off fused elementwise chains.
 */
export type WebGpuBackendOptions = GpuBackendOptions;

/**
 * The GPU executor of @densessm/gpu on a WebGPU device: every kernel is the WGSL the kernel
 * language emits, launched through WebGpuRuntime. Create it with `WebGpuBackend.create()` (it needs
 * an adapter), or through the registry as "webgpu".
 */
export class WebGpuBackend extends GpuBackend<GPUBuffer> {
  readonly device: GPUDevice;
  /** The adapter's vendor/architecture/description, for benchmark records. */
  readonly adapterInfo: string;
  readonly shaderF16: boolean;
  /** Whether the adapter is a CPU implementation of WebGPU (SwiftShader on CI). */
  readonly software: boolean;
  private lost: string | undefined;

  private constructor(acquired: AcquiredDevice, options: WebGpuBackendOptions) {
    super("webgpu", new WebGpuRuntime(acquired.device, acquired.software), options);
    this.device = acquired.device;
    this.adapterInfo = acquired.adapterInfo;
    this.shaderF16 = acquired.shaderF16;
    this.software = acquired.software;
    void this.device.lost.then((info) => {
      this.lost = info.message || info.reason;
    });
  }

  /** A backend on this machine's WebGPU adapter; throws a BackendError when there is none. */
  static async create(options: WebGpuBackendOptions = {}): Promise<WebGpuBackend> {
    return new WebGpuBackend(await acquireDevice(), options);
  }

  protected override alive(): void {
    if (this.lost !== undefined) throw new BackendError(`webgpu: the device was lost (${this.lost})`);
  }

  /** Frees idle pooled buffers and the device. */
  override dispose(): void {
    super.dispose();
    this.device.destroy();
  }
}
