// Collects the kernel specializations a list of workloads asks the CUDA backend for (over the mock driver).
import { Session } from "@densessm/core";
import { programByEntry, type KernelProgram } from "@densessm/gpu";
import { CudaBackend, MockCompiler, MockDriver, type CompiledImage, type KernelCompiler } from "../src/index.js";
import type { Workload } from "./fixed-set.js";

/** The mock compiler, noting every entry point it is asked for. */
class RecordingCompiler implements KernelCompiler {
  readonly description = "recording compiler";
  readonly version = 11080;
  readonly architectures = [80];
  readonly entries = new Set<string>();
  private readonly mock = new MockCompiler();

  compile(source: string, arch: number): CompiledImage {
    const image = this.mock.compile(source, arch);
    for (const m of new TextDecoder().decode(image.image).matchAll(/\.entry (\w+)\(/g)) this.entries.add(m[1]!);
    return image;
  }
}

/** Every specialization the workloads need, in first-use order. */
export async function collect(workloads: readonly Workload[], log: (line: string) => void = () => {}): Promise<KernelProgram[]> {
  const compiler = new RecordingCompiler();
  for (const w of workloads) {
    const backend = await CudaBackend.create({ ...w.backend, driver: new MockDriver({ execute: w.execute ?? false }), compiler, ptx: null });
    const before = compiler.entries.size;
    const started = performance.now();
    await w.run(new Session(backend));
    log(`  ${w.name}: ${compiler.entries.size - before} new specializations (${((performance.now() - started) / 1000).toFixed(1)} s)`);
    backend.dispose();
  }
  return [...compiler.entries].map((e) => programByEntry(e)!);
}
