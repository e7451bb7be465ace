// The device check: everything backend-cuda claims, on a real GPU, in one run of at most 8 minutes,
// written as JSON. Bundled with build.ts into one folder (check.mjs, koffi, a PTX set, the fixtures,
// the PyTorch reference, a Node binary if wanted) that needs no network. `--mock` runs it on the
// mock driver (the interpreter) at tiny shapes (it implies --small), which is how it is tested
// without a GPU; `--small` alone runs the tiny shapes on the GPU (a quick first look).
//
//   node check.mjs [--mock] [--small] [--out result.json] [--python python3] [--official modeling.py]
//                  [--budget 480] [--dtype f32|bf16]
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { cpus, hostname } from "node:os";
import { fileURLToPath } from "node:url";
import { CausalLM, conformanceSuite, DeviceAdamW, gradName, Session, Tensor } from "@densessm/core";
import { fusionConformance } from "@densessm/fusion";
import "@densessm/mamba";
import { retentionConformance } from "@densessm/retnet";
import { CudaBackend, cudaStatus, cudaVersion, MockCompiler, MockDriver, shippedPtx } from "../src/index.js";
import { measureMatmul, type MatmulDecision } from "./matmul.js";
import { SHAPES, type Shape } from "./shapes.js";

interface Args {
  mock: boolean;
  small: boolean;
  out: string | undefined;
  python: string | undefined;
  official: string | undefined;
  budgetSeconds: number;
  dtype: "f32" | "bf16";
  models: string;
}

function parseArgs(argv: readonly string[]): Args {
  const value = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const here = fileURLToPath(new URL(".", import.meta.url));
  const models = value("--models") ?? [`${here}models`, `${here}../../../models`].find((d) => existsSync(`${d}/dense-gau-retnet-tiny`)) ?? `${here}models`;
  const dtype = value("--dtype") ?? "bf16";
  if (dtype !== "f32" && dtype !== "bf16") throw new Error(`--dtype ${dtype}: expected f32 or bf16`);
  return { mock: argv.includes("--mock"), small: argv.includes("--small") || argv.includes("--mock"), out: value("--out"), python: value("--python"), official: value("--official"), budgetSeconds: Number(value("--budget") ?? 480), dtype, models };
}

type PhaseResult = { status: "passed" | "failed" | "error" | "skipped"; seconds: number; [key: string]: unknown };

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const shape = args.small ? SHAPES.small : SHAPES.full;
  const started = performance.now();
  const deadline = started + args.budgetSeconds * 1000;
  const phases: Record<string, PhaseResult> = {};
  const result: Record<string, unknown> = {
    check: "@densessm/backend-cuda device check",
    mode: args.mock ? "mock (the mock driver: kernels run in the interpreter; no figure here is a GPU measurement)" : "gpu",
    date: new Date().toISOString(),
    machine: { hostname: hostname(), cpu: cpus()[0]?.model, cores: cpus().length, node: process.version, platform: `${process.platform}-${process.arch}` },
    phases,
  };
  const log = (line: string) => console.error(`[${((performance.now() - started) / 1000).toFixed(1)} s] ${line}`);

  // The backends: on the real driver, or on the mock one; f32 products or the tensor cores'.
  const create = (matmul: "f32" | "tf32" | "bf16") => (args.mock ? CudaBackend.create({ driver: new MockDriver(), compiler: new MockCompiler(), ptx: null, matmul }) : CudaBackend.create({ matmul }));
  if (!args.mock) {
    const status = await cudaStatus();
    result.driver = status;
    if (!status.available) {
      result.error = `no usable GPU: ${status.reason}`;
      return finish(args, result, 1);
    }
  }
  const backend = await create("f32");
  const ptx = shippedPtx();
  result.gpu = { name: backend.device.name, capability: backend.device.capability, memoryBytes: backend.device.memoryBytes, driver: backend.driverDescription, driverCuda: cudaVersion(backend.driverVersion) };
  result.kernels = { ptxSet: ptx ? { compiler: ptx.compiler, isa: ptx.isa, target: ptx.target, kernels: Object.keys(ptx.kernels).length, usable: backend.loader.shippedUnusable ?? "yes" } : "none" };
  const session = new Session(backend);

  const phase = async (name: string, reserveSeconds: number, run: () => Promise<Omit<PhaseResult, "seconds">>) => {
    const t = performance.now();
    if (performance.now() + reserveSeconds * 1000 > deadline) {
      phases[name] = { status: "skipped", seconds: 0, reason: `not enough of the ${args.budgetSeconds} s budget left (needs about ${reserveSeconds} s)` };
      return log(`${name}: skipped (budget)`);
    }
    log(`${name}...`);
    try {
      phases[name] = { ...(await run()), seconds: (performance.now() - t) / 1000 } as PhaseResult;
    } catch (e) {
      phases[name] = { status: "error", seconds: (performance.now() - t) / 1000, error: (e as Error).message.split("\n").slice(0, 4).join(" | ") };
    }
    log(`${name}: ${phases[name]!.status} (${phases[name]!.seconds.toFixed(1)} s)`);
  };

  await phase("conformance", 20, async () => {
    const cases = [...conformanceSuite(backend.capabilities), ...retentionConformance(), ...fusionConformance()];
    const failures: { name: string; error: string }[] = [];
    for (const c of cases) {
      try {
        await c.run(session);
      } catch (e) {
        failures.push({ name: c.name, error: (e as Error).message.split("\n")[0]! });
      }
    }
    return { status: failures.length ? "failed" : "passed", cases: cases.length, passed: cases.length - failures.length, failures };
  });

  await phase("fixtures", 20, async () => {
    const rows: Record<string, unknown>[] = [];
    for (const [dir, chunk] of [["mamba-tiny", undefined], ["dense-gau-retnet-tiny", undefined], ["dense-gau-retnet-tiny", 4]] as const) {
      const c = JSON.parse(readFileSync(`${args.models}/${dir}/case.json`, "utf8")) as { input_ids: number[][]; logits_parallel: number[][][]; logits_recurrent: number[][][] };
      const lm = await CausalLM.fromPretrained(`${args.models}/${dir}`, chunk ? { chunkSize: chunk } : {});
      for (const mode of ["parallel", "chunkwise", "recurrent"] as const) {
        if (chunk && mode !== "chunkwise") continue;
        const got = (await lm.logits(session, c.input_ids, mode)).toFloat32();
        const want = (mode === "recurrent" ? c.logits_recurrent : c.logits_parallel).flat(2);
        const maxAbsError = want.reduce((m, v, i) => Math.max(m, Math.abs(v - got[i]!)), 0);
        rows.push({ fixture: dir, mode: chunk ? `${mode} (chunks of ${chunk})` : mode, maxAbsError, passed: maxAbsError <= 1e-4 });
      }
    }
    return { status: rows.every((r) => r.passed) ? "passed" : "failed", tolerance: 1e-4, rows };
  });

  let decision: MatmulDecision | undefined;
  await phase("matmul", 30, async () => {
    decision = await measureMatmul(backend, create, shape.config, shape.batch * shape.seq, args.mock);
    return { status: "passed", ...decision };
  });

  // Our model at the shape, and the PyTorch reference on the same GPU.
  const python = findPython(args.python);
  result.reference = python
    ? { python: python.path, torch: python.torch, model: args.official ? `the official modeling file ${args.official}` : "our own PyTorch DenseGAU-RetNet written from the paper's equations (official parameter names; the official parallel O(L²) form for training, the recurrent form for decoding), not the official code" }
    : { error: "no python with torch found (--python)" };
  const reference = (mode: "check" | "train" | "decode", seconds: number) =>
    python ? runReference(python.path, { mode, shape, dtype: args.dtype, device: args.mock ? "cpu" : "cuda", official: args.official, models: args.models }, Math.max(10, Math.min(seconds, (deadline - performance.now()) / 1000))) : undefined;

  await phase("reference-check", 15, async () => {
    const r = reference("check", 60);
    if (!r) return { status: "skipped", reason: "no python with torch" };
    return { status: r.ok && (r.maxAbsError as number) <= 1e-4 ? "passed" : "failed", what: "the PyTorch reference's parallel training form and recurrent decoding loop against the official logits of models/dense-gau-retnet-tiny", ...r };
  });

  // Our model runs with the precision asked for: bf16 is the tensor cores with bfloat16 inputs.
  let modelBackend: CudaBackend;
  try {
    modelBackend = args.dtype === "f32" ? backend : await create("bf16");
  } catch (e) {
    result.error = `--dtype ${args.dtype}: ${(e as Error).message}`; // e.g. a GPU older than compute capability 8.0
    return finish(args, result, 1);
  }
  const modelSession = new Session(modelBackend);
  const lm = CausalLM.fromConfig(shape.config, { seed: 0 });
  result.model = { layout: args.small ? "DenseGAU-RetNet, released layout at a tiny size" : "DenseGAU-RetNet, released 350M layout", parameters: lm.module.numParameters(), config: shape.config, batch: shape.batch, seq: shape.seq, dtype: args.dtype };

  await phase("training", 90, async () => {
    const ours = await trainThroughput(modelSession, lm, shape, args.dtype);
    const ref = reference("train", 180);
    const ratio = ref?.ok ? ours.tokensPerSecond / (ref.tokensPerSecond as number) : undefined;
    return { status: "passed", ours, reference: ref, ratio, targets: { minimum: 1.0, aim: 1.5 } };
  });

  await phase("decode", 60, async () => {
    const ours = await decodeThroughput(modelSession, lm, shape);
    const ref = reference("decode", 120);
    const ratio = ref?.ok ? ours.tokensPerSecond / (ref.tokensPerSecond as number) : undefined;
    return { status: "passed", ours, reference: ref, ratio, target: 5 };
  });

  result.totalSeconds = (performance.now() - started) / 1000;
  result.launches = { ...modelBackend.runtime.stats, graphs: modelBackend.runtime.graphs?.stats, kernels: modelBackend.loader.stats };
  const failed = Object.values(phases).some((p) => p.status === "failed" || p.status === "error");
  return finish(args, result, failed ? 1 : 0);
}

function finish(args: Args, result: Record<string, unknown>, code: number): number {
  const json = JSON.stringify(result, null, 2);
  if (args.out) writeFileSync(args.out, `${json}\n`);
  console.log(json);
  return code;
}

/** Whole training steps as lm's train() runs them (forward, backward, clipped AdamW on the device, the loss read back), after one warm-up step. */
async function trainThroughput(session: Session, lm: CausalLM, shape: Shape, dtype: string) {
  lm.bind(session);
  const graph = lm.trainGraph(shape.batch, shape.seq);
  const params = lm.module.namedParameters();
  const trained = params.filter(([name]) => graph.outputs.some((o) => o.name === gradName(name)));
  const optimizer = new DeviceAdamW(session, params, { lr: 1e-4, clip: 1 });
  const vocab = lm.vocabSize;
  const losses: number[] = [];
  const step = async (s: number) => {
    const ids = Tensor.int32(Array.from({ length: shape.batch * shape.seq }, (_, i) => (i * 7919 + s * 104729) % vocab), [shape.batch, shape.seq]);
    const out = await session.runOnDevice(graph, { input_ids: ids, labels: ids });
    const loss = out.get("loss")!;
    losses.push((await session.backend.download(loss)).item());
    session.backend.release(loss);
    await optimizer.accumulate(new Map(trained.map(([name]) => [name, out.get(gradName(name))!])));
    await optimizer.step();
  };
  const warm = performance.now();
  await step(0);
  const warmupSeconds = (performance.now() - warm) / 1000;
  const t = performance.now();
  for (let s = 1; s <= shape.trainSteps; s++) await step(s);
  const seconds = (performance.now() - t) / 1000;
  optimizer.dispose();
  return { tokensPerSecond: (shape.trainSteps * shape.batch * shape.seq) / seconds, steps: shape.trainSteps, secondsPerStep: seconds / shape.trainSteps, warmupSeconds, losses, dtype, optimizer: "AdamW on the device (DeviceAdamW, clip 1)" };
}

/** Batch-1 greedy decoding after a prefill, each token drawn on the device, after a warm-up. */
async function decodeThroughput(session: Session, lm: CausalLM, shape: Shape) {
  const prompt = Array.from({ length: shape.prompt }, (_, i) => (i * 31 + 7) % lm.vocabSize);
  const decoder = await lm.startDecoding(session, [prompt]);
  const draw = { uniforms: new Float32Array(1) };
  let next = await decoder.step([1], draw);
  for (let i = 0; i < 8; i++) next = await decoder.step([...next], draw); // warm-up: kernels loaded, CUDA graphs captured
  const t = performance.now();
  for (let i = 0; i < shape.decodeTokens; i++) next = await decoder.step([...next], draw);
  const seconds = (performance.now() - t) / 1000;
  decoder.dispose();
  return { tokensPerSecond: shape.decodeTokens / seconds, tokens: shape.decodeTokens, batch: 1, prompt: shape.prompt };
}

function findPython(given: string | undefined): { path: string; torch: string } | undefined {
  for (const path of given ? [given] : ["python3", "/usr/bin/python3", "python"]) {
    const r = spawnSync(path, ["-c", "import torch; print(torch.__version__, torch.cuda.is_available())"], { encoding: "utf8" });
    if (r.status === 0) return { path, torch: r.stdout.trim() };
  }
  return undefined;
}

function runReference(python: string, options: Record<string, unknown>, seconds: number): Record<string, unknown> & { ok: boolean } {
  const script = fileURLToPath(new URL("./reference.py", import.meta.url));
  const r = spawnSync(python, [script, JSON.stringify(options)], { encoding: "utf8", timeout: seconds * 1000, maxBuffer: 1 << 24 });
  const line = r.stdout.trim().split("\n").at(-1) ?? "";
  try {
    return { ok: r.status === 0, ...(JSON.parse(line) as Record<string, unknown>) };
  } catch {
    return { ok: false, error: r.error?.message ?? (r.stderr.trim().split("\n").slice(-3).join(" | ") || `exit ${r.status}`) };
  }
}

process.exitCode = await main().catch((e: Error) => {
  console.error(`device check: ${e.message}`);
  return 1;
});
