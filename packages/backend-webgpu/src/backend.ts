import { BackendError, PRIMITIVE_NAMES, Tensor, type Backend, type DeviceTensor, type Executable, type Graph, type MemoryInfo } from "@densessm/core";
import { BufferPool, READBACK_USAGE } from "./buffer-pool.js";
import { acquireDevice, type AcquiredDevice } from "./device.js";
import { compileGraph, type ExecutionContext } from "./executable.js";
import { deviceBytes, expectGpuTensor, GpuTensor, hostWords } from "./gpu-tensor.js";
import { SUPPORTED_OPS } from "./kernels/index.js";
import { PipelineCache } from "./pipelines.js";

export interface WebGpuBackendOptions {
  /** Matrix-vector kernel form (see KernelContext); by default "thread" on software adapters. */
  readonly matvec?: "workgroup" | "thread";
  /**
   * "f16" keeps linear-layer weights (rank-2 float32 parameters read as `x @ Wᵀ`) as packed
   * float16 pairs, halving the bytes a decode step streams; products still accumulate in f32.
   * Results then differ from float32 weights by float16 rounding (~1e-3 relative), so the default
   * is "f32". Works on every adapter: the packing uses core WGSL, not the shader-f16 extension.
   */
  readonly weights?: "f32" | "f16";
}

/** int32 uploads up to this many elements keep a host copy (index feeds are range-checked on it). */
const HOST_COPY_LIMIT = 1 << 16;

/**
 * Runs graphs with WGSL compute kernels on a WebGPU device: every primitive, plus fused matmul /
 * matrix-vector, rmsnorm, softmax, logSoftmax, sigmoid, silu, softplus, causal conv, a chunked
 * scan, and single kernels for retention (parallel and chunkwise) and the dense fusion step.
 * Create it with `WebGpuBackend.create()` (it needs an adapter), or through the registry as "webgpu".
 */
export class WebGpuBackend implements Backend {
  readonly name = "webgpu";
  readonly capabilities = { ops: SUPPORTED_OPS, dtypes: ["float32", "float16", "bfloat16", "int32"] as const };
  readonly device: GPUDevice;
  /** The adapter's vendor/architecture/description, for benchmark records. */
  readonly adapterInfo: string;
  readonly shaderF16: boolean;
  /** Whether the adapter is a CPU implementation of WebGPU (SwiftShader on CI). */
  readonly software: boolean;
  private readonly pool: BufferPool;
  private readonly pipelines: PipelineCache;
  private readonly context: ExecutionContext;
  private lost: string | undefined;
  private readonly packed = new Map<GPUBuffer, GPUBuffer>();

  private constructor(acquired: AcquiredDevice, options: WebGpuBackendOptions) {
    for (const op of PRIMITIVE_NAMES) if (!SUPPORTED_OPS.has(op)) throw new BackendError(`webgpu: primitive "${op}" has no kernel`);
    this.device = acquired.device;
    this.adapterInfo = acquired.adapterInfo;
    this.shaderF16 = acquired.shaderF16;
    this.software = acquired.software;
    this.pool = new BufferPool(this.device);
    this.pipelines = new PipelineCache(this.device);
    const pool = this.pool;
    this.context = {
      device: this.device,
      pool,
      pipelines: this.pipelines,
      kernel: { matvec: options.matvec ?? (acquired.software ? "thread" : "workgroup") },
      owner: this,
      f16Weights: options.weights === "f16",
      packed: this.packed,
      track(bytes) {
        pool.live += bytes;
        pool.peak = Math.max(pool.peak, pool.live);
      },
    };
    void this.device.lost.then((info) => {
      this.lost = info.message || info.reason;
    });
  }

  /** A backend on this machine's WebGPU adapter; throws a BackendError when there is none. */
  static async create(options: WebGpuBackendOptions = {}): Promise<WebGpuBackend> {
    return new WebGpuBackend(await acquireDevice(), options);
  }

  private alive(): void {
    if (this.lost !== undefined) throw new BackendError(`webgpu: the device was lost (${this.lost})`);
  }

  async compile(graph: Graph): Promise<Executable> {
    this.alive();
    return compileGraph(graph, this.context);
  }

  upload(tensor: Tensor): DeviceTensor {
    this.alive();
    const words = hostWords(tensor);
    const buffer = this.pool.take(deviceBytes(tensor.shape));
    if (words.length) this.device.queue.writeBuffer(buffer, 0, words);
    const host = tensor.dtype === "int32" && tensor.size <= HOST_COPY_LIMIT ? tensor.clone() : undefined;
    return new GpuTensor(tensor.shape, tensor.dtype, buffer, this, host);
  }

  async download(t: DeviceTensor): Promise<Tensor> {
    this.alive();
    const g = expectGpuTensor(t, this, "download()'s tensor");
    const bytes = g.bytes;
    if (bytes === 0) return Tensor.zeros(g.shape, g.dtype);
    // A small output comes with a mappable copy from its own run; anything else is copied out now.
    let staging = g.staged;
    g.staged = undefined;
    if (!staging) {
      staging = this.pool.take(bytes, READBACK_USAGE);
      const encoder = this.device.createCommandEncoder();
      encoder.copyBufferToBuffer(g.buffer, 0, staging, 0, bytes);
      this.device.queue.submit([encoder.finish()]);
    }
    try {
      await staging.mapAsync(1 /* GPUMapMode.READ */, 0, bytes);
      const copy = staging.getMappedRange(0, bytes).slice(0);
      staging.unmap();
      if (g.dtype === "int32") return new Tensor(new Int32Array(copy), g.shape, "int32");
      const f32 = new Tensor(new Float32Array(copy), g.shape, "float32");
      return g.dtype === "float32" ? f32 : f32.to(g.dtype);
    } catch (e) {
      throw new BackendError(`webgpu: reading back a ${g.dtype}[${g.shape.join(", ")}] tensor failed: ${(e as Error).message}`);
    } finally {
      this.pool.give(staging);
    }
  }

  release(t: DeviceTensor): void {
    const g = expectGpuTensor(t, this, "release()'s tensor");
    g.released = true;
    if (g.staged) this.pool.give(g.staged);
    const packed = this.packed.get(g.buffer);
    if (packed) {
      this.packed.delete(g.buffer);
      this.pool.give(packed);
    }
    this.pool.give(g.buffer);
  }

  memory(): MemoryInfo {
    return { liveBytes: this.pool.live, peakBytes: this.pool.peak };
  }

  /** Frees idle pooled buffers and the device. */
  dispose(): void {
    this.pool.trim();
    this.device.destroy();
  }
}
