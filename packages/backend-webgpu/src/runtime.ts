import type { GpuRuntime, KernelProgram, RuntimeLimits } from "@densessm/gpu";

/** Storage buffers can be bound, copied into (uploads) and out of (outputs, downloads). */
const STORAGE_USAGE = 0x80 | 0x08 | 0x04; // STORAGE | COPY_DST | COPY_SRC
const READBACK_USAGE = 0x01 | 0x08; // MAP_READ | COPY_DST
const UNIFORM_USAGE = 0x40 | 0x08; // UNIFORM | COPY_DST

interface Bound {
  readonly pipeline: GPUComputePipeline;
  readonly group: GPUBindGroup;
}

interface Staged {
  readonly buffer: GPUBuffer;
  readonly bytes: number;
}

/**
 * The GpuRuntime of WebGPU: kernels are WGSL compute pipelines, launches are recorded in one
 * compute pass, and `submit` sends the pass (and any copies) in one command buffer inside a
 * validation error scope, so a bad launch is an error of the run that made it.
 */
export class WebGpuRuntime implements GpuRuntime<GPUBuffer, GPUComputePipeline, Bound, Staged> {
  readonly name = "webgpu";
  readonly limits: RuntimeLimits;
  private encoder: GPUCommandEncoder | undefined;
  private pass: GPUComputePassEncoder | undefined;
  /** An error of work submitted early by `write`, thrown by the next `submit`. */
  private failed: Error | undefined;
  /** Mappable buffers for readback, by size (a decode loop reads the same sizes every token). */
  private readonly staging = new Map<number, GPUBuffer[]>();
  /** Uniform buffers by their words: identical parameters share one. */
  private readonly uniforms = new Map<string, GPUBuffer>();

  constructor(
    private readonly device: GPUDevice,
    software: boolean,
  ) {
    this.limits = { maxStorageBuffers: device.limits.maxStorageBuffersPerShaderStage, software };
  }

  alloc(bytes: number): GPUBuffer {
    return this.device.createBuffer({ size: Math.max(4, bytes), usage: STORAGE_USAGE });
  }

  free(buffer: GPUBuffer): void {
    buffer.destroy();
  }

  write(buffer: GPUBuffer, data: ArrayBufferView): void {
    // queue.writeBuffer lands before the next submit: submit what was recorded first, to keep
    // order. An error of that work is reported by the next submit.
    if (this.encoder) this.submit().catch((e: Error) => (this.failed ??= e));
    this.device.queue.writeBuffer(buffer, 0, data as ArrayBufferView<ArrayBuffer>);
  }

  copy(src: GPUBuffer, dst: GPUBuffer, bytes: number): void {
    this.commands().copyBufferToBuffer(src, 0, dst, 0, bytes);
  }

  async compile(program: KernelProgram): Promise<GPUComputePipeline> {
    const module = this.device.createShaderModule({ code: program.wgsl });
    try {
      return await this.device.createComputePipelineAsync({ layout: "auto", compute: { module, entryPoint: "main" } });
    } catch (e) {
      const info = await module.getCompilationInfo().catch(() => undefined);
      const messages = info?.messages.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join("; ");
      throw new Error(messages || (e as Error).message);
    }
  }

  bind(pipeline: GPUComputePipeline, buffers: readonly GPUBuffer[], params: Uint32Array | undefined): Bound {
    const entries: GPUBindGroupEntry[] = buffers.map((buffer, i) => ({ binding: i, resource: { buffer } }));
    if (params) entries.push({ binding: buffers.length, resource: { buffer: this.uniform(params) } });
    return { pipeline, group: this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }) };
  }

  dispatch(bound: Bound, groups: readonly [number, number, number]): void {
    if (!this.pass) this.pass = this.commands(false).beginComputePass();
    this.pass.setPipeline(bound.pipeline);
    this.pass.setBindGroup(0, bound.group);
    this.pass.dispatchWorkgroups(groups[0], groups[1], groups[2]);
  }

  stage(buffer: GPUBuffer, bytes: number): Staged {
    const size = Math.max(4, Math.ceil(bytes / 4) * 4);
    const staged = this.staging.get(size)?.pop() ?? this.device.createBuffer({ size, usage: READBACK_USAGE });
    this.commands().copyBufferToBuffer(buffer, 0, staged, 0, size);
    return { buffer: staged, bytes };
  }

  async read(staged: Staged): Promise<ArrayBuffer> {
    if (this.encoder) await this.submit();
    try {
      await staged.buffer.mapAsync(1 /* GPUMapMode.READ */, 0, staged.buffer.size);
      const copy = staged.buffer.getMappedRange(0, staged.buffer.size).slice(0, staged.bytes);
      staged.buffer.unmap();
      return copy;
    } finally {
      this.discard(staged);
    }
  }

  discard(staged: Staged): void {
    const list = this.staging.get(staged.buffer.size);
    if (list) list.push(staged.buffer);
    else this.staging.set(staged.buffer.size, [staged.buffer]);
  }

  async submit(): Promise<void> {
    const failed = this.failed;
    this.failed = undefined;
    if (failed) throw failed;
    const encoder = this.encoder;
    if (!encoder) return;
    this.pass?.end();
    this.pass = undefined;
    this.encoder = undefined;
    this.device.queue.submit([encoder.finish()]);
    const error = await this.device.popErrorScope();
    if (error) throw new Error(error.message);
  }

  dispose(): void {
    for (const list of this.staging.values()) for (const b of list) b.destroy();
    this.staging.clear();
    for (const b of this.uniforms.values()) b.destroy();
    this.uniforms.clear();
  }

  /** The open command encoder (opened with a validation error scope), outside any compute pass unless `endPass` is false. */
  private commands(endPass = true): GPUCommandEncoder {
    if (endPass && this.pass) {
      this.pass.end();
      this.pass = undefined;
    }
    if (!this.encoder) {
      this.device.pushErrorScope("validation");
      this.encoder = this.device.createCommandEncoder();
    }
    return this.encoder;
  }

  private uniform(params: Uint32Array): GPUBuffer {
    const key = params.join(",");
    let buffer = this.uniforms.get(key);
    if (!buffer) {
      buffer = this.device.createBuffer({ size: Math.max(16, Math.ceil(params.byteLength / 16) * 16), usage: UNIFORM_USAGE });
      this.device.queue.writeBuffer(buffer, 0, params as Uint32Array<ArrayBuffer>);
      this.uniforms.set(key, buffer);
    }
    return buffer;
  }
}
