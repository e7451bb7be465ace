/**
 * `pnpm bench` (from this package, or the root's `pnpm bench`): decode throughput (tokens/s) of a
 * DenseRetNet and a Mamba with random weights, batch 1 and 8, on webgpu and on backend-cpu in the
 * same run on the same machine. Prints a Markdown table with the webgpu/cpu ratio.
 *
 * Method: each decode step runs the model's one-token graph with `runOnDevice` (the recurrent state
 * stays on the backend between steps), downloads only the logits and picks the greedy token on
 * the host. Two untimed steps compile and warm up, then STEPS steps are timed.
 *
 * Shape: "100m" is a ~100M-parameter model (d_model 768: Mamba 24 layers, DenseRetNet 12 layers).
 * On a software adapter (SwiftShader, ~0.1 GFLOP/s, and a 128 MiB storage-binding limit that the
 * 50k x 768 embedding exceeds) the default is "small" (d_model 256, 4 layers, vocabulary 4096):
 * there the figure only proves the path runs. Override with `--shape 100m|small`; `--weights f16`
 * runs webgpu with packed float16 linear weights; BENCH_STEPS sets the timed steps.
 */
import { arch, cpus, platform } from "node:os";
import { CpuBackend } from "@densessm/backend-cpu";
import { Session, Tensor, type DeviceTensor, type Graph } from "@densessm/core";
import { MambaForCausalLM } from "@densessm/mamba";
import { RetNet, RetNetConfig } from "@densessm/retnet";
import { WebGpuBackend } from "../src/index.js";

const STEPS = Number(process.env.BENCH_STEPS ?? 8);

interface Decodable {
  readonly name: string;
  readonly params: number;
  bind(session: Session): void;
  graph(batch: number): Graph;
  /** Host feeds for a step: tokens, position-dependent inputs, and (first step) the zero state. */
  feeds(tokens: number[], position: number): Record<string, Tensor>;
  initialState(batch: number): Record<string, Tensor>;
}

const countParams = (ps: [string, { value: Tensor }][]) => ps.reduce((n, [, p]) => n + p.value.size, 0);

function mamba(shape: Shape): Decodable {
  const model = MambaForCausalLM.create(shape === "100m" ? { dModel: 768, nLayer: 24, vocabSize: 50280 } : { dModel: 256, nLayer: 4, vocabSize: 4096 });
  const { nLayer } = model.config;
  return {
    name: "Mamba",
    params: countParams(model.module.namedParameters()),
    bind: (s) => model.bind(s),
    graph: (batch) => model.chunkGraph(batch, 1),
    feeds: (tokens) => ({ input_ids: Tensor.int32(tokens, [tokens.length, 1]) }),
    initialState: (batch) => {
      const s = model.initialState(batch);
      const out: Record<string, Tensor> = {};
      for (let l = 0; l < nLayer; l++) {
        out[`conv_state.${l}`] = s.conv[l]!;
        out[`ssm_state.${l}`] = s.ssm[l]!;
      }
      return out;
    },
  };
}

function denseRetNet(shape: Shape): Decodable {
  const big = shape === "100m";
  const config = RetNetConfig.fromJSON({
    decoder_embed_dim: big ? 768 : 256,
    decoder_retention_heads: big ? 3 : 2,
    decoder_layers: big ? 12 : 4,
    vocab_size: big ? 32000 : 4096,
    dense_block_layers: 2,
  });
  const lm = new RetNet(config);
  return {
    name: "DenseRetNet",
    params: countParams(lm.module.namedParameters()),
    bind: (s) => s.setParameters(lm.module.namedParameters()),
    graph: (batch) => lm.runner.recurrentGraph(batch, 1),
    feeds: (tokens, position) => ({ input_ids: Tensor.int32(tokens, [tokens.length, 1]), ...lm.runner.recurrentFeeds(position, 1) }),
    initialState: (batch) => lm.runner.initialStates(batch),
  };
}

type Shape = "100m" | "small";

/** Tokens per second of greedy decoding, state on the backend, logits read back every step. */
async function decodeRate(session: Session, m: Decodable, batch: number): Promise<number> {
  m.bind(session);
  const graph = m.graph(batch);
  const stateNames = Object.keys(m.initialState(batch));
  let state: Record<string, Tensor | DeviceTensor> = m.initialState(batch);
  let tokens = Array.from({ length: batch }, (_, b) => b + 1);
  const step = async (position: number) => {
    const out = await session.runOnDevice(graph, { ...m.feeds(tokens, position), ...state });
    for (const name of stateNames) if (!(state[name] instanceof Tensor)) session.backend.release(state[name]!);
    state = Object.fromEntries(stateNames.map((n) => [n, out.get(n)!]));
    const logitsDevice = out.get("logits")!;
    const logits = (await session.backend.download(logitsDevice)).toFloat32();
    session.backend.release(logitsDevice);
    const vocab = logits.length / batch;
    tokens = tokens.map((_, b) => {
      let best = 0;
      for (let v = 1; v < vocab; v++) if (logits[b * vocab + v]! > logits[b * vocab + best]!) best = v;
      return best;
    });
  };
  await step(0);
  await step(1);
  const t0 = performance.now();
  for (let i = 0; i < STEPS; i++) await step(2 + i);
  const seconds = (performance.now() - t0) / 1000;
  for (const name of stateNames) if (!(state[name] instanceof Tensor)) session.backend.release(state[name]!);
  return (STEPS * batch) / seconds;
}

const weightsFlag = process.argv.indexOf("--weights");
const weights = weightsFlag > 0 && process.argv[weightsFlag + 1] === "f16" ? "f16" : "f32";
const gpuBackend = await WebGpuBackend.create({ weights });
const software = /swiftshader|llvmpipe|software|cpu/i.test(gpuBackend.adapterInfo);
const flag = process.argv.indexOf("--shape");
const shape: Shape = flag > 0 ? (process.argv[flag + 1] as Shape) : software ? "small" : "100m";
const gpu = new Session(gpuBackend);
const cpu = new Session(new CpuBackend());

console.log(`machine: ${cpus()[0]?.model ?? "unknown cpu"} x${cpus().length}, ${platform()} ${arch()}, node ${process.version}`);
console.log(`webgpu adapter: ${gpuBackend.adapterInfo}${software ? " (software rasterizer: figures only show the path runs)" : ""}`);
console.log(`shape: ${shape}, webgpu linear weights ${weights}, ${STEPS} timed steps after 2 warm-up steps\n`);
console.log("| model | params | batch | webgpu tok/s | cpu tok/s | webgpu / cpu |");
console.log("| --- | --- | --- | --- | --- | --- |");
for (const make of [denseRetNet, mamba]) {
  const m = make(shape);
  for (const batch of [1, 8]) {
    const g = await decodeRate(gpu, m, batch);
    const c = await decodeRate(cpu, m, batch);
    console.log(`| ${m.name} | ${(m.params / 1e6).toFixed(1)}M | ${batch} | ${g.toFixed(2)} | ${c.toFixed(2)} | ${(g / c).toFixed(2)}x |`);
  }
}
gpu.dispose();
gpuBackend.dispose();
