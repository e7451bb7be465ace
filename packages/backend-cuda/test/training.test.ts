// Training on the CUDA backend (mock driver): forward, backward, clipping and AdamW all on the
// "device", only the loss read back; three steps give backend-cpu's parameters (trained there with
// core's host AdamW) to 1e-5. Then lm's train() end to end: checkpoints read the parameters and
// moments back, and the run resumes.
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CpuBackend } from "@densessm/backend-cpu";
import { AdamW, CausalLM, clipGradNorm, DeviceAdamW, gradName, registerBackend, Session, Tensor } from "@densessm/core";
import { train } from "@densessm/lm";
import "@densessm/retnet";
import { describe, expect, it } from "vitest";
import { mockBackend } from "./helpers.js";

const models = fileURLToPath(new URL("../../../models/", import.meta.url));
// Both sides compute in float32 with different summation orders; Adam divides by sqrt(v), which
// magnifies the differences of near-zero gradient components to about lr · 1e-2 per step.
const OPTIONS = { lr: 1e-3, weightDecay: 0.1, betas: [0.9, 0.95] as const };
const CLIP = 1;

function batch(step: number): Tensor {
  return Tensor.int32(Array.from({ length: 2 * 12 }, (_, i) => (i * 37 + step * 11 + 5) % 97), [2, 12]);
}

describe("three AdamW steps of the official DenseGAU-RetNet fixture", () => {
  it("on cuda (mock driver, everything on the device) match backend-cpu with core's host AdamW to 1e-5", async () => {
    const reference = await CausalLM.fromPretrained(`${models}dense-gau-retnet-tiny`);
    const onCuda = await CausalLM.fromPretrained(`${models}dense-gau-retnet-tiny`);
    const graph = reference.trainGraph(2, 12);
    const trained = (lm: CausalLM) => lm.module.namedParameters().filter(([name]) => graph.outputs.some((o) => o.name === gradName(name)));

    const cpu = new Session(new CpuBackend());
    reference.bind(cpu);
    const hostOpt = new AdamW(reference.module.namedParameters(), OPTIONS);
    const { backend } = await mockBackend();
    const cuda = new Session(backend);
    onCuda.bind(cuda);
    const deviceOpt = new DeviceAdamW(cuda, onCuda.module.namedParameters(), { ...OPTIONS, clip: CLIP });
    const cudaGraph = onCuda.trainGraph(2, 12);

    for (let step = 0; step < 3; step++) {
      const feeds = { input_ids: batch(step), labels: batch(step) };
      const out = await cpu.run(graph, feeds);
      const grads = new Map(trained(reference).map(([name]) => [name, out[gradName(name)]!]));
      clipGradNorm(grads, CLIP);
      hostOpt.step(grads);

      const device = await cuda.runOnDevice(cudaGraph, feeds);
      const loss = device.get("loss")!;
      expect((await backend.download(loss)).item()).toBeCloseTo(out.loss!.item(), 5);
      backend.release(loss);
      await deviceOpt.accumulate(new Map(trained(onCuda).map(([name]) => [name, device.get(gradName(name))!])));
      await deviceOpt.step();
    }
    await deviceOpt.syncParameters();
    const want = reference.module.namedParameters();
    let worst = 0;
    for (const [i, [name, p]] of onCuda.module.namedParameters().entries()) {
      const [a, b] = [p.value.toFloat32(), want[i]![1].value.toFloat32()];
      for (let j = 0; j < a.length; j++) worst = Math.max(worst, Math.abs(a[j]! - b[j]!));
      expect(name).toBe(want[i]![0]);
    }
    expect(worst).toBeLessThanOrEqual(1e-5);
    // The steps moved the parameters by far more than the tolerance (the comparison is not vacuous).
    const before = (await CausalLM.fromPretrained(`${models}dense-gau-retnet-tiny`)).module.namedParameters();
    const moved = Math.max(...onCuda.module.namedParameters().map(([, p], i) => Math.max(...p.value.toFloat32().map((v, j) => Math.abs(v - before[i]![1].value.toFloat32()[j]!)))));
    expect(moved).toBeGreaterThan(1e-3);
  });
});

describe("lm's train() on cuda (mock driver)", () => {
  it("trains, checkpoints what is on the device, and resumes", { timeout: 300_000 }, async () => {
    registerBackend({ name: "cuda-mock", priority: -100, preferred: () => false, create: async () => (await mockBackend()).backend });
    const dir = await mkdtemp(join(tmpdir(), "densessm-cuda-train-"));
    const corpus = fileURLToPath(new URL("../../../apps/cli/assets/tinyshakespeare.txt", import.meta.url));
    await writeFile(join(dir, "corpus.txt"), (await readFile(corpus, "utf8")).slice(0, 20_000));
    const config = { model_type: "llama", hidden_size: 32, query_key_dim: 16, num_attention_heads: 2, num_hidden_layers: 2, v_factor: 2, dense_block_layers: 1, vocab_size: 0 };
    const common = { model: config, data: [join(dir, "corpus.txt")], out: join(dir, "run"), vocabSize: 400, batchSize: 2, seqLen: 8, evalBatches: 1, checkpointEvery: 2, evalEvery: 2, backend: "cuda-mock", seed: 3 };
    const first = await train({ ...common, steps: 2 });
    expect(first.session.backend.name).toBe("cuda");
    expect(first.history.map((h) => h.loss).every(Number.isFinite)).toBe(true);
    // The checkpoint holds what the device computed: the host copies were synced before saving.
    const saved = await CausalLM.fromPretrained(first.checkpoint);
    const onDevice = await first.session.backend.download(first.session.parameterOnDevice("model.embed_tokens.weight"));
    expect([...saved.module.namedParameters().find(([n]) => n === "model.embed_tokens.weight")![1].value.toFloat32()]).toEqual([...onDevice.toFloat32()]);
    const resumed = await train({ ...common, model: "", data: [], resume: true, steps: 4 });
    expect(resumed.steps).toBe(4);
    expect(resumed.history).toHaveLength(4);
  });
});

describe("tensor-core products on cuda (mock driver): bfloat16 / TF32 inputs, f32 accumulation and master weights", () => {
  // Each product rounds its inputs to `unit` (bfloat16 keeps 8 significant bits, TF32 11); through
  // the forward and backward passes the gradients move by a few units, and by 8x less with TF32.
  it.each([
    ["bf16", 2 ** -8],
    ["tf32", 2 ** -11],
  ] as const)("a training step of the official DenseGAU-RetNet fixture with %s inputs gives backend-cpu's loss and gradients to that precision", async (matmul, unit) => {
    const reference = await CausalLM.fromPretrained(`${models}dense-gau-retnet-tiny`);
    const onCuda = await CausalLM.fromPretrained(`${models}dense-gau-retnet-tiny`);
    const graph = reference.trainGraph(2, 12);
    const names = reference.module.namedParameters().map(([name]) => name).filter((name) => graph.outputs.some((o) => o.name === gradName(name)));
    const cpu = new Session(new CpuBackend());
    reference.bind(cpu);
    const want = await cpu.run(graph, { input_ids: batch(0), labels: batch(0) });

    const { backend } = await mockBackend({ matmul });
    expect(backend.computeDtype).toBe(matmul === "bf16" ? "bf16" : "f32");
    const cuda = new Session(backend);
    onCuda.bind(cuda);
    const got = await cuda.run(onCuda.trainGraph(2, 12), { input_ids: batch(0), labels: batch(0) });
    expect(Math.abs(got.loss!.item() - want.loss!.item())).toBeLessThan(4 * unit);
    let worst = 0;
    for (const name of names) {
      const [a, b] = [got[gradName(name)]!.toFloat32(), want[gradName(name)]!.toFloat32()];
      const norm = (x: ArrayLike<number>) => Math.hypot(...Array.from(x));
      const relative = norm(a.map((v, j) => v - b[j]!)) / norm(b);
      expect(relative, name).toBeLessThan(32 * unit);
      worst = Math.max(worst, relative);
    }
    expect(worst).toBeGreaterThan(unit / 4); // the products' inputs really were rounded
    // The parameters stay float32 (master weights); only the products' inputs were rounded.
    expect(onCuda.module.namedParameters().every(([, p]) => p.value.dtype === "float32")).toBe(true);
  });

  it("need compute capability 8.0: an older GPU is refused in one line", async () => {
    await expect(mockBackend({ matmul: "bf16", mock: { computeCapability: [7, 5] } })).rejects.toThrow(/^cuda: bf16 tensor-core products need compute capability 8\.0 or newer; .* is 7\.5$/);
  });
});
