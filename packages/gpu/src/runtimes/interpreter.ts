import { checkBindings } from "../lang/bindings.js";
import type { KernelProgram } from "../lang/kernel.js";
import { storageView, type InterpretedKernel, type StorageView } from "../interpret/compile.js";
import { GpuBackend, type GpuBackendOptions } from "../executor/backend.js";
import type { GpuRuntime, RuntimeLimits } from "../executor/runtime.js";

/** A device buffer of the interpreter: host memory. */
export interface HostBuffer {
  readonly data: ArrayBuffer;
}

interface Bound {
  readonly kernel: InterpretedKernel;
  readonly views: readonly StorageView[];
  readonly params: Uint32Array | undefined;
}

export interface InterpreterOptions {
  /**
   * Check every access against its buffer's bounds, every barrier for invocations that skipped it,
   * and every workgroup-memory read for a value written first; a violation is a KernelError naming
   * the kernel, the buffer, the index, the workgroup and the invocation. Slower; default true.
   */
  readonly debug?: boolean;
  /** Storage buffers one kernel may bind (default 8, WebGPU's guarantee, so plans match WebGPU's). */
  readonly maxStorageBuffers?: number;
}

/**
 * The GpuRuntime that runs every kernel on the host through the interpreter: the executor's whole
 * path (planning, binding, launches, staging) with no GPU. Work runs when it is recorded.
 */
export class InterpreterRuntime implements GpuRuntime<HostBuffer, InterpretedKernel, Bound, ArrayBuffer> {
  readonly name = "gpu-interpreter";
  readonly limits: RuntimeLimits;
  readonly debug: boolean;

  constructor(options: InterpreterOptions = {}) {
    this.debug = options.debug ?? true;
    this.limits = { maxStorageBuffers: options.maxStorageBuffers ?? 8, software: true };
  }

  alloc(bytes: number): HostBuffer {
    return { data: new ArrayBuffer(Math.max(4, Math.ceil(bytes / 4) * 4)) };
  }

  free(_buffer: HostBuffer): void {}

  write(buffer: HostBuffer, data: ArrayBufferView): void {
    new Uint8Array(buffer.data).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }

  copy(src: HostBuffer, dst: HostBuffer, bytes: number): void {
    new Uint8Array(dst.data, 0, bytes).set(new Uint8Array(src.data, 0, bytes));
  }

  async compile(program: KernelProgram): Promise<InterpretedKernel> {
    return program.interpreter(this.debug);
  }

  bind(kernel: InterpretedKernel, buffers: readonly HostBuffer[], params: Uint32Array | undefined): Bound {
    return { kernel, views: kernel.storage.map((s, i) => storageView(s.elem, buffers[i]!.data)), params };
  }

  dispatch(bound: Bound, groups: readonly [number, number, number]): void {
    bound.kernel.run(bound.views, bound.params, groups);
  }

  stage(buffer: HostBuffer, bytes: number): ArrayBuffer {
    return buffer.data.slice(0, bytes);
  }

  async read(staged: ArrayBuffer): Promise<ArrayBuffer> {
    return staged;
  }

  discard(_staged: ArrayBuffer): void {}

  async submit(): Promise<void> {}

  dispose(): void {}
}

/**
 * Runs one kernel launch on host buffers: the interpreter without an executor, for tests, docs
 * and mock drivers. `buffers` are bound in the program's storage order.
 */
export function interpret(program: KernelProgram, buffers: readonly (ArrayBuffer | ArrayBufferView)[], groups: readonly [number, number, number], options: { params?: Uint32Array; debug?: boolean } = {}): void {
  checkBindings(program, buffers.map((b) => (ArrayBuffer.isView(b) ? b.buffer : b)));
  const views = program.ir.storage.map((s, i) => {
    const b = buffers[i]!;
    return ArrayBuffer.isView(b) ? storageView(s.elem, b.buffer, b.byteOffset, b.byteLength) : storageView(s.elem, b);
  });
  program.interpreter(options.debug ?? true).run(views, options.params, groups);
}

/** The executor on the interpreter runtime: every model runs, slowly, with no GPU. */
export class InterpreterBackend extends GpuBackend<HostBuffer> {
  constructor(options: GpuBackendOptions & InterpreterOptions = {}) {
    super("gpu-interpreter", new InterpreterRuntime(options), options);
  }
}
