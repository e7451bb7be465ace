// The matmul decision, measured: the products a training step of the model runs most, on each of
// our kernels (f32 tiled, tensor cores with TF32 or bfloat16 inputs), timed on the GPU and checked
// against the f32 kernel; cuBLASLt is probed. On the mock driver the same code runs, and says its
// timings are the interpreter's, not a measurement.
import { Session, Tensor, trace } from "@densessm/core";
import type { CudaBackend } from "../src/index.js";
import { loadKoffi } from "../src/driver/koffi.js";
import { sitePackages } from "../src/nvrtc/find.js";

type Mode = "f32" | "tf32" | "bf16";

/** Relative error each input precision may cost on these products (bf16 keeps 8 bits, TF32 11). */
const TOLERANCE: Record<Mode, number> = { f32: 1e-5, tf32: 4e-3, bf16: 3e-2 };

export interface MatmulDecision {
  shapes: { m: number; k: number; n: number; what: string }[];
  candidates: { kernel: string; milliseconds: number; tflops: number; maxRelativeError: number; withinTolerance: boolean }[];
  chosen: string;
  rule: string;
  cublasLt: string;
  note?: string;
}

/** Where libcublasLt may be: by name (CUDA 13, 12, 11), the toolkit, Python's nvidia wheels. */
async function probeCublasLt(): Promise<string> {
  const koffi = await loadKoffi();
  const candidates = ["libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so.11", "/usr/local/cuda/lib64/libcublasLt.so", ...sitePackages().flatMap((s) => [`${s}/nvidia/cublas/lib/libcublasLt.so.12`, `${s}/nvidia/cu13/lib/libcublasLt.so.13`])];
  for (const path of candidates) {
    try {
      koffi.load(path);
      return `opens (${path}); a cuBLASLt matmul path is not implemented in this version, so it was not measured`;
    } catch {
      // try the next
    }
  }
  return "libcublasLt not found";
}

export async function measureMatmul(backend: CudaBackend, create: (matmul: Mode) => Promise<CudaBackend>, config: { hidden_size: number; v_factor: number; query_key_dim: number }, rows: number, mock: boolean): Promise<MatmulDecision> {
  const d = config.hidden_size;
  const e = d * config.v_factor;
  const shapes = [
    { m: rows, k: d, n: 2 * e, what: "to_hidden (x @ Wᵀ)" },
    { m: rows, k: e, n: d, what: "to_out" },
    { m: rows, k: d, n: config.query_key_dim, what: "q_proj / k_proj" },
  ];
  const backends: Record<Mode, CudaBackend> = { f32: backend, tf32: backend, bf16: backend };
  for (const mode of ["tf32", "bf16"] as const) backends[mode] = await create(mode);
  const inputs = shapes.map((s, i) => {
    const fill = (n: number, seed: number) => Float32Array.from({ length: n }, (_, j) => Math.sin(j * 0.7 + seed) * 0.5);
    return { x: new Tensor(fill(s.m * s.k, i), [s.m, s.k], "float32"), w: new Tensor(fill(s.n * s.k, i + 9), [s.n, s.k], "float32") };
  });
  const reference: Float32Array[] = [];
  const candidates: MatmulDecision["candidates"] = [];
  for (const mode of ["f32", "tf32", "bf16"] as const) {
    const session = new Session(backends[mode]);
    let seconds = 0;
    let flops = 0;
    let worst = 0;
    for (const [i, s] of shapes.entries()) {
      const graph = trace((v) => ({ y: v.x!.matmul(v.w!.transpose()) }), { inputs: { x: { shape: [s.m, s.k] }, w: { shape: [s.n, s.k] } } });
      const feeds = { x: session.backend.upload(inputs[i]!.x), w: session.backend.upload(inputs[i]!.w) };
      const y = (await session.run(graph, feeds)).y!.toFloat32(); // warm-up: loads the kernel
      if (mode === "f32") reference[i] = y;
      const scale = Math.max(...reference[i]!.map(Math.abs));
      worst = Math.max(worst, ...y.map((v, j) => Math.abs(v - reference[i]![j]!) / scale));
      const repeats = mock ? 1 : 5;
      await backends[mode].synchronize();
      const t = performance.now();
      for (let r = 0; r < repeats; r++) session.backend.release((await session.runOnDevice(graph, feeds)).get("y")!);
      await backends[mode].synchronize();
      seconds += (performance.now() - t) / 1000 / repeats;
      flops += 2 * s.m * s.k * s.n;
      for (const f of Object.values(feeds)) session.backend.release(f);
    }
    candidates.push({ kernel: mode === "f32" ? "matmul.tiled (f32)" : `matmul.mma (tensor cores, ${mode} inputs)`, milliseconds: seconds * 1000, tflops: flops / seconds / 1e12, maxRelativeError: worst, withinTolerance: worst <= TOLERANCE[mode] });
  }
  for (const mode of ["tf32", "bf16"] as const) backends[mode].dispose();
  const eligible = candidates.filter((c) => c.withinTolerance);
  const fastest = eligible.reduce((a, b) => (b.milliseconds < a.milliseconds ? b : a), eligible[0] ?? candidates[0]!);
  return {
    shapes,
    candidates,
    chosen: fastest.kernel,
    rule: "the fastest kernel (summed time of the shapes) whose error against the f32 kernel is within its input precision's tolerance (TF32 4e-3, bf16 3e-2); --dtype bf16 always uses the bf16 tensor-core kernel",
    cublasLt: await probeCublasLt().catch((e: Error) => `probe failed: ${e.message}`),
    ...(mock ? { note: "mock driver: these timings are the interpreter's and decide nothing; run on a GPU for the decision" } : {}),
  };
}
