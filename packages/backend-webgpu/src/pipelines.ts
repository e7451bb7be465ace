import { BackendError } from "@densessm/core";

/**
 * Compiled compute pipelines keyed by WGSL source. Kernels bake shapes into their source, so the
 * repeated layers of a model (same shapes) share one pipeline, compiled once per backend.
 */
export class PipelineCache {
  private readonly cache = new Map<string, Promise<GPUComputePipeline>>();

  constructor(private readonly device: GPUDevice) {}

  get size(): number {
    return this.cache.size;
  }

  /** The pipeline for `code`; `what` names the node in the error if the shader fails to compile. */
  get(code: string, what: string): Promise<GPUComputePipeline> {
    let p = this.cache.get(code);
    if (!p) {
      p = this.create(code, what);
      this.cache.set(code, p);
      p.catch(() => this.cache.delete(code));
    }
    return p;
  }

  private async create(code: string, what: string): Promise<GPUComputePipeline> {
    const module = this.device.createShaderModule({ code });
    try {
      return await this.device.createComputePipelineAsync({ layout: "auto", compute: { module, entryPoint: "main" } });
    } catch (e) {
      const info = await module.getCompilationInfo().catch(() => undefined);
      const messages = info?.messages.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join("; ");
      throw new BackendError(`webgpu: ${what}: the kernel failed to compile: ${messages || (e as Error).message}`);
    }
  }
}
