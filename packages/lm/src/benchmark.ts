import { CausalLM, DeviceAdamW, gradName, Session, Tensor } from "@densessm/core";
import { createModel } from "./model-spec.js";

export interface BenchmarkOptions {
  /** A preset, a config.json path or a model folder (random weights for presets and configs). */
  model: string;
  backend?: string;
  /** "bf16": bfloat16 matrix products (f32 accumulation), on backends that have them (cuda). */
  dtype?: "f32" | "bf16";
  batchSize?: number;
  seqLen?: number;
  /** Timed training steps (after one warm-up step). */
  steps?: number;
  /** Timed decoding steps (after a prefill of seqLen tokens). */
  decodeTokens?: number;
  vocabSize?: number;
}

export interface BenchmarkReport {
  model: string;
  family: string;
  backend: string;
  /** The precision of its matrix products ("bf16": bfloat16 inputs, f32 accumulation). */
  dtype: "f32" | "bf16";
  parameters: number;
  batchSize: number;
  seqLen: number;
  /** Tokens per second of whole training steps: forward, backward and the AdamW update, on the backend. */
  trainTokensPerSecond: number;
  decodeTokensPerSecond: number;
  /** The backend's peak bytes and the process's resident set size at the end. */
  peakBackendBytes: number;
  residentBytes: number;
}

/** A model folder loads its weights; a preset or a config.json gets random ones. */
async function modelFor(spec: string, vocab: number): Promise<CausalLM> {
  const { stat } = await import("node:fs/promises");
  const isFolder = await stat(spec).then((s) => s.isDirectory(), () => false);
  return isFolder ? CausalLM.fromPretrained(spec) : createModel(spec, vocab);
}

/** Training and decoding throughput of one model on one backend, measured after a warm-up. */
export async function benchmark(options: BenchmarkOptions): Promise<BenchmarkReport> {
  const batch = options.batchSize ?? 8;
  const len = options.seqLen ?? 128;
  const steps = options.steps ?? 5;
  const decodeTokens = options.decodeTokens ?? 32;
  const lm = await modelFor(options.model, options.vocabSize ?? 1024);
  const session = await Session.create(options.backend, { dtype: options.dtype });
  lm.bind(session);
  const vocab = Math.min(lm.vocabSize, options.vocabSize ?? lm.vocabSize);
  const ids = Tensor.int32(Array.from({ length: batch * len }, (_, i) => (i * 7919 + 13) % vocab), [batch, len]);

  // A training step as train() runs it: forward, backward and the AdamW update on the backend,
  // reading back only the loss.
  const graph = lm.trainGraph(batch, len);
  const params = lm.module.namedParameters();
  const trained = params.filter(([name]) => graph.outputs.some((o) => o.name === gradName(name)));
  const optimizer = new DeviceAdamW(session, params, { lr: 1e-4, clip: 1 });
  const trainStep = async () => {
    const out = await session.runOnDevice(graph, { input_ids: ids, labels: ids });
    const loss = out.get("loss")!;
    await session.backend.download(loss);
    session.backend.release(loss);
    await optimizer.accumulate(new Map(trained.map(([name]) => [name, out.get(gradName(name))!])));
    await optimizer.step();
  };
  await trainStep(); // warm-up: compile, JIT
  let start = performance.now();
  for (let s = 0; s < steps; s++) await trainStep();
  const trainTokensPerSecond = (steps * batch * len) / ((performance.now() - start) / 1000);
  optimizer.dispose();

  // Decoding as generation runs it: each step also draws the next token on the backend (greedy).
  const decoder = await lm.startDecoding(session, Array.from({ length: batch }, (_, b) => Array.from({ length: len }, (_, t) => (b * 31 + t) % vocab)));
  const draw = { vocabSize: vocab, uniforms: new Float32Array(batch) };
  let next = await decoder.step(Array.from({ length: batch }, () => 1), draw); // warm-up
  start = performance.now();
  for (let s = 0; s < decodeTokens; s++) next = await decoder.step(Array.from(next), draw);
  const decodeTokensPerSecond = (decodeTokens * batch) / ((performance.now() - start) / 1000);
  decoder.dispose();

  return {
    model: options.model,
    family: lm.family,
    backend: session.backend.name,
    dtype: session.backend.computeDtype ?? "f32",
    parameters: lm.module.numParameters(),
    batchSize: batch,
    seqLen: len,
    trainTokensPerSecond,
    decodeTokensPerSecond,
    peakBackendBytes: session.memory().peakBytes,
    residentBytes: process.memoryUsage().rss,
  };
}
