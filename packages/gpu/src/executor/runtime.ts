import type { KernelProgram } from "../lang/kernel.js";

/** What kernels may assume about a runtime's device. */
export interface RuntimeLimits {
  /** Storage buffers one kernel may bind (WebGPU guarantees 8). */
  readonly maxStorageBuffers: number;
  /**
   * A CPU implementation (SwiftShader, the interpreter): kernels pick barrier-free forms, which are
   * far faster there, over the workgroup reductions GPUs prefer.
   */
  readonly software: boolean;
}

/**
 * The small interface between the GPU executor and a device: buffers, kernels, launches. WebGPU
 * (backend-webgpu), the interpreter (this package) and CUDA implement it; everything above it
 * (kernel choice, buffer planning, fused chains, parameters, feeds and outputs) is shared.
 *
 * Work is recorded in order and runs in that order: `write`, `copy`, `dispatch` and `stage` may
 * run asynchronously, and `submit` hands everything recorded so far to the device. A runtime may
 * also execute each call at once (the interpreter does).
 */
export interface GpuRuntime<Buffer = unknown, Kernel = unknown, Bound = unknown, Staged = unknown> {
  /** Names the device in errors: "webgpu", "gpu-interpreter", "cuda". */
  readonly name: string;
  readonly limits: RuntimeLimits;
  /** A device buffer of at least `bytes` bytes (a multiple of 4, at least 4). */
  alloc(bytes: number): Buffer;
  free(buffer: Buffer): void;
  /** Copies host bytes into the start of `buffer`, ordered after all work recorded before it. */
  write(buffer: Buffer, data: ArrayBufferView): void;
  /** Records a device-to-device copy of the first `bytes` bytes. */
  copy(src: Buffer, dst: Buffer, bytes: number): void;
  /** Compiles one kernel specialization (its `wgsl`, `cuda` or `interpreter()` form). Throws with the compiler's message. */
  compile(program: KernelProgram): Promise<Kernel>;
  /**
   * Binds buffers (in the program's storage declaration order) and parameter words (in its
   * parameter order) for launches; bound once per step and reused while the buffers stay the same.
   */
  bind(kernel: Kernel, buffers: readonly Buffer[], params: Uint32Array | undefined): Bound;
  /** Records a launch of `groups` workgroups (CUDA: blocks). */
  dispatch(bound: Bound, groups: readonly [number, number, number]): void;
  /** Records a copy of the first `bytes` bytes of `buffer` to the host, collected by `read`. */
  stage(buffer: Buffer, bytes: number): Staged;
  /** The staged bytes (submitting recorded work first if needed); the staging area is recycled. */
  read(staged: Staged): Promise<ArrayBuffer>;
  /** Recycles a staged copy that will not be read. */
  discard(staged: Staged): void;
  /** Submits recorded work; rejects with the device's message if it failed (validation, a fault). */
  submit(): Promise<void>;
  /** Frees everything the runtime holds. */
  dispose(): void;
}
