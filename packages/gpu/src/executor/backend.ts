import { BackendError, PRIMITIVE_NAMES, Tensor, type Backend, type DeviceTensor, type DType, type Graph, type MemoryInfo } from "@densessm/core";
import type { KernelProgram } from "../lang/kernel.js";
import { SUPPORTED_OPS } from "../kernels/index.js";
import { compileGraph, type ExecutionContext, type GpuExecutable } from "./executable.js";
import { BufferPool } from "./pool.js";
import type { GpuRuntime } from "./runtime.js";
import { deviceBytes, expectGpuTensor, fromDeviceBytes, GpuTensor, hostWords } from "./tensor.js";

export interface GpuBackendOptions {
  /** Matrix-vector kernel form (see KernelContext); by default "thread" on software runtimes. */
  readonly matvec?: "workgroup" | "thread";
  /**
   * "f16" keeps linear-layer weights (rank-2 float32 parameters read as `x @ Wᵀ`) as packed
   * float16 pairs, halving the bytes a decode step streams; products still accumulate in f32.
   * Results then differ from float32 weights by float16 rounding (~1e-3 relative), so the default
   * is "f32".
   */
  readonly weights?: "f32" | "f16";
  /** Fuse elementwise chains into single kernels (default true; false to measure what they save). */
  readonly fuse?: boolean;
  /**
   * How products of more than 8 rows run: "f32" (default), or on tensor cores (CUDA only, sm_80
   * and newer) with inputs rounded to "tf32" or "bf16" and f32 accumulation: bf16 compute for
   * matmuls with the f32 values (master weights) kept everywhere else.
   */
  readonly matmul?: "f32" | "tf32" | "bf16";
}

/** int32 uploads up to this many elements keep a host copy (index feeds are range-checked on it). */
const HOST_COPY_LIMIT = 1 << 16;

/** Launch counts since the backend was made, for benchmarks. */
export interface DispatchStats {
  runs: number;
  dispatches: number;
  /** Launches that fused elementwise chains saved against one kernel per node. */
  saved: number;
}

/**
 * Runs graphs with the kernels of @densessm/gpu on any GpuRuntime: every primitive, plus fused
 * matmul / matrix-vector, rmsnorm, softmax, logSoftmax, sigmoid, silu, softplus, causal conv, a
 * chunked scan, sample, single kernels for retention (parallel and chunkwise) and the dense fusion
 * step, and generated kernels for elementwise chains. backend-webgpu and backend-cuda are this
 * class over their runtime; "gpu-interpreter" is it over the interpreter.
 */
export class GpuBackend<Buffer = unknown> implements Backend {
  readonly capabilities: { ops: ReadonlySet<string>; dtypes: readonly DType[] } = { ops: SUPPORTED_OPS, dtypes: ["float32", "float16", "bfloat16", "int32", "int8", "uint8"] };
  readonly stats: DispatchStats = { runs: 0, dispatches: 0, saved: 0 };
  /** "bf16" when matrix products round their inputs to bfloat16 (`matmul: "bf16"`), else "f32". */
  readonly computeDtype: "f32" | "bf16";
  private readonly pool: BufferPool<Buffer>;
  private readonly context: ExecutionContext<Buffer>;
  private readonly kernels = new Map<KernelProgram, Promise<unknown>>();
  private readonly packed = new Map<Buffer, Buffer>();

  constructor(
    readonly name: string,
    readonly runtime: GpuRuntime<Buffer>,
    options: GpuBackendOptions = {},
  ) {
    for (const op of PRIMITIVE_NAMES) if (!SUPPORTED_OPS.has(op)) throw new BackendError(`${name}: primitive "${op}" has no kernel`);
    this.computeDtype = options.matmul === "bf16" ? "bf16" : "f32";
    this.pool = new BufferPool(runtime);
    const stats = this.stats;
    this.context = {
      runtime,
      pool: this.pool,
      kernel: { matvec: options.matvec ?? (runtime.limits.software ? "thread" : "workgroup"), maxStorageBuffers: runtime.limits.maxStorageBuffers, matmul: options.matmul ?? "f32" },
      compiled: (program) => this.compiled(program),
      owner: this,
      f16Weights: options.weights === "f16",
      fuse: options.fuse ?? true,
      packed: this.packed,
      count(dispatches, saved) {
        stats.runs++;
        stats.dispatches += dispatches;
        stats.saved += saved;
      },
    };
  }

  /** The runtime's compiled form of a kernel, made once per backend. */
  compiled(program: KernelProgram): Promise<unknown> {
    let k = this.kernels.get(program);
    if (!k) {
      k = this.runtime.compile(program);
      this.kernels.set(program, k);
      k.catch(() => this.kernels.delete(program));
    }
    return k;
  }

  /** Kernels compiled so far (identical layers share one). */
  get compiledKernels(): number {
    return this.kernels.size;
  }

  /** Checked before each call; a runtime that lost its device overrides it to throw. */
  protected alive(): void {}

  async compile(graph: Graph): Promise<GpuExecutable> {
    this.alive();
    return compileGraph(graph, this.context);
  }

  upload(tensor: Tensor): DeviceTensor {
    this.alive();
    const words = hostWords(tensor);
    const buffer = this.pool.take(deviceBytes(tensor.shape, tensor.dtype));
    if (words.length) this.runtime.write(buffer, words);
    const host = tensor.dtype === "int32" && tensor.size <= HOST_COPY_LIMIT ? tensor.clone() : undefined;
    return new GpuTensor(tensor.shape, tensor.dtype, buffer, this, host);
  }

  async download(t: DeviceTensor): Promise<Tensor> {
    this.alive();
    const g = expectGpuTensor<Buffer>(t, this, this.name, "download()'s tensor");
    const bytes = g.bytes;
    if (bytes === 0) return Tensor.zeros(g.shape, g.dtype);
    // A small output comes with a host copy from its own run; anything else is copied out now.
    const staged = g.staged ?? this.runtime.stage(g.buffer, bytes);
    g.staged = undefined;
    let copy: ArrayBuffer;
    try {
      copy = await this.runtime.read(staged);
    } catch (e) {
      throw new BackendError(`${this.name}: reading back a ${g.dtype}[${g.shape.join(", ")}] tensor failed: ${(e as Error).message}`);
    }
    return fromDeviceBytes(copy, g.shape, g.dtype);
  }

  release(t: DeviceTensor): void {
    const g = expectGpuTensor<Buffer>(t, this, this.name, "release()'s tensor");
    g.released = true;
    if (g.staged !== undefined) this.runtime.discard(g.staged);
    g.staged = undefined;
    const packed = this.packed.get(g.buffer);
    if (packed !== undefined) {
      this.packed.delete(g.buffer);
      this.pool.give(packed);
    }
    this.pool.give(g.buffer);
  }

  memory(): MemoryInfo {
    return { liveBytes: this.pool.live, peakBytes: this.pool.peak };
  }

  /** Frees idle pooled buffers and the runtime. */
  dispose(): void {
    this.pool.trim();
    this.runtime.dispose();
  }
}
