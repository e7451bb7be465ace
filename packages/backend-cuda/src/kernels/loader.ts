import type { KernelProgram } from "@densessm/gpu";
import type { CudaDriver, CuFunction, CuModule } from "../driver/api.js";
import { cudaVersion, type CompiledImage, type KernelCompiler } from "../nvrtc/nvrtc.js";
import type { ShippedPtx } from "./ptx.js";

/** A kernel ready to launch. */
export interface LoadedKernel {
  readonly fn: CuFunction;
  readonly program: KernelProgram;
  /** Where its code came from: the shipped PTX, or compiled here at run time. */
  readonly origin: "shipped" | "compiled";
}

export interface KernelLoaderOptions {
  readonly shipped: ShippedPtx | undefined;
  /** The run-time compiler, looked for on the first kernel the shipped set lacks; a string says why there is none. */
  readonly compiler: () => Promise<KernelCompiler | string>;
  /** The device's compute capability as 10 · major + minor. */
  readonly capability: number;
  readonly driverVersion: number;
}

interface Request {
  readonly program: KernelProgram;
  resolve(k: LoadedKernel): void;
  reject(e: Error): void;
}

const withNul = (text: string | Uint8Array): Uint8Array => {
  const bytes = typeof text === "string" ? new TextEncoder().encode(text) : text;
  if (bytes.at(-1) === 0) return bytes;
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
};

/**
 * Turns kernel specializations into launchable functions. A specialization in the shipped PTX set
 * is loaded from it (the driver JIT-compiles it once and caches it); any other is compiled by
 * NVRTC, found on first need. Requests made in the same tick (the executor asks for every kernel of
 * a graph at once) are compiled as one translation unit, since NVRTC's cost is mostly per program.
 */
export class KernelLoader {
  readonly stats = { shipped: 0, compiled: 0, compilations: 0 };
  private readonly modules: CuModule[] = [];
  private queue: Request[] = [];
  private compiler: Promise<KernelCompiler | string> | undefined;
  /** Why the shipped set cannot be used on this device, if it cannot. */
  readonly shippedUnusable: string | undefined;

  constructor(
    private readonly driver: CudaDriver,
    private readonly options: KernelLoaderOptions,
  ) {
    const s = options.shipped;
    const target = s ? Number(s.target.replace(/^\D+/, "")) : 0;
    if (!s) this.shippedUnusable = "this package was built without its PTX set";
    else if (options.driverVersion < s.minimumDriver) this.shippedUnusable = `the driver (CUDA ${cudaVersion(options.driverVersion)}) is older than the shipped PTX needs (CUDA ${cudaVersion(s.minimumDriver)})`;
    else if (options.capability < target) this.shippedUnusable = `the shipped PTX targets ${s.target}; this GPU is sm_${options.capability}`;
  }

  load(program: KernelProgram): Promise<LoadedKernel> {
    const ptx = this.shippedUnusable ? undefined : this.options.shipped!.kernels[program.entry];
    if (ptx !== undefined) {
      try {
        const module = this.driver.moduleLoadData(withNul(ptx));
        this.modules.push(module);
        this.stats.shipped++;
        return Promise.resolve({ fn: this.driver.moduleGetFunction(module, program.entry), program, origin: "shipped" });
      } catch (e) {
        return Promise.reject(e as Error);
      }
    }
    return new Promise((resolve, reject) => {
      if (this.queue.length === 0) setImmediate(() => void this.flush());
      this.queue.push({ program, resolve, reject });
    });
  }

  private async flush(): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    this.compiler ??= this.options.compiler();
    const compiler = await this.compiler;
    if (typeof compiler === "string") {
      for (const r of batch) r.reject(new Error(`it is not in the shipped PTX set (${this.shippedUnusable ?? `${Object.keys(this.options.shipped!.kernels).length} specializations`}) and needs compiling, but ${compiler}. Install NVRTC (the CUDA toolkit, or \`pip install nvidia-cuda-nvrtc-cu12\`) or point DENSESSM_NVRTC at libnvrtc.so`));
      return;
    }
    try {
      this.compileBatch(compiler, batch);
    } catch (e) {
      // One bad kernel should fail alone: compile each separately to find it.
      if (batch.length === 1) batch[0]!.reject(e as Error);
      else for (const r of batch) this.compileBatch(compiler, [r], true);
    }
  }

  private compileBatch(compiler: KernelCompiler, batch: readonly Request[], settle = false): void {
    try {
      const unit = [...new Set(batch.map((r) => r.program.cuda))].join("\n");
      const image = compiler.compile(unit, ...this.target(compiler));
      this.stats.compilations++;
      const module = this.driver.moduleLoadData(image.kind === "ptx" ? withNul(image.image) : image.image);
      this.modules.push(module);
      for (const r of batch) {
        this.stats.compiled++;
        r.resolve({ fn: this.driver.moduleGetFunction(module, r.program.entry), program: r.program, origin: "compiled" });
      }
    } catch (e) {
      if (!settle) throw e;
      for (const r of batch) r.reject(e as Error);
    }
  }

  /** A cubin for this GPU when the compiler knows its architecture, else PTX for the newest one it knows below it. */
  private target(compiler: KernelCompiler): [number, CompiledImage["kind"]] {
    const { capability, driverVersion } = this.options;
    if (compiler.architectures.includes(capability)) return [capability, "cubin"];
    const below = compiler.architectures.filter((a) => a <= capability);
    if (!below.length) throw new Error(`${compiler.description} cannot compile for sm_${capability} or any older architecture`);
    if (compiler.version > driverVersion) throw new Error(`${compiler.description} does not know sm_${capability}, and the PTX it writes is newer than the driver (CUDA ${cudaVersion(driverVersion)}) can JIT`);
    return [Math.max(...below), "ptx"];
  }

  dispose(): void {
    for (const m of this.modules) this.driver.moduleUnload(m);
    this.modules.length = 0;
  }
}
