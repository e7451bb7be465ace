/**
 * `pnpm bench` (from this package, or the root's `pnpm bench`): decode throughput (tokens/s) of a
 * DenseRetNet and a Mamba with random weights, batch 1 and 8, on webgpu and on backend-cpu in the
 * same run on the same machine. Prints a Markdown table with the webgpu/cpu ratio.
 *
 * Method: decoding as `generate` runs it: `startDecoding` on a one-token prompt, then each step is
 * one run of the model's one-token graph with the greedy draw (`ops.sample`) appended, so the state
 * stays on the backend and only the batch's token ids are read back. Two untimed steps compile
 * and warm up, then STEPS steps are timed.
 *
 * Shape: "100m" is a ~100M-parameter model (d_model 768: Mamba 24 layers, DenseRetNet 12 layers).
 * On a software adapter (SwiftShader, ~0.1 GFLOP/s, and a 128 MiB storage-binding limit that the
 * 50k x 768 embedding exceeds) the default is "small" (d_model 256, 4 layers, vocabulary 4096):
 * there the figure only proves the path runs. Override with `--shape 100m|small`; `--weights f16`
 * runs webgpu with packed float16 linear weights; `--no-fuse` turns fused elementwise chains off;
 * BENCH_STEPS sets the timed steps. The launches column is kernel launches per decode step, and
 * how many of one-kernel-per-node's launches the fused elementwise chains save.
 */
import { arch, cpus, platform } from "node:os";
import { CpuBackend } from "@densessm/backend-cpu";
import { CausalLM, Session } from "@densessm/core";
import { MambaConfig } from "@densessm/mamba";
import { RetNetConfig } from "@densessm/retnet";
import { WebGpuBackend } from "../src/index.js";

const STEPS = Number(process.env.BENCH_STEPS ?? 8);

interface Decodable {
  readonly name: string;
  readonly lm: CausalLM;
}

function mamba(shape: Shape): Decodable {
  return { name: "Mamba", lm: CausalLM.fromConfig(new MambaConfig(shape === "100m" ? { dModel: 768, nLayer: 24, vocabSize: 50280 } : { dModel: 256, nLayer: 4, vocabSize: 4096 })) };
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
  return { name: "DenseRetNet", lm: CausalLM.fromConfig(config) };
}

type Shape = "100m" | "small";

/** Tokens per second of greedy decoding: state on the backend, token ids drawn there. */
async function decodeRate(session: Session, lm: CausalLM, batch: number, onStep?: () => void): Promise<number> {
  const decoder = await lm.startDecoding(session, Array.from({ length: batch }, (_, b) => [b + 1]));
  const draw = { vocabSize: lm.vocabSize, uniforms: new Float32Array(batch) };
  let tokens = await decoder.sample(draw);
  for (let i = 0; i < 2; i++) tokens = await decoder.step([...tokens], draw);
  onStep?.();
  const t0 = performance.now();
  for (let i = 0; i < STEPS; i++) tokens = await decoder.step([...tokens], draw);
  const seconds = (performance.now() - t0) / 1000;
  decoder.dispose();
  return (STEPS * batch) / seconds;
}

const weightsFlag = process.argv.indexOf("--weights");
const weights = weightsFlag > 0 && process.argv[weightsFlag + 1] === "f16" ? "f16" : "f32";
const gpuBackend = await WebGpuBackend.create({ weights, fuse: !process.argv.includes("--no-fuse") });
const software = /swiftshader|llvmpipe|software|cpu/i.test(gpuBackend.adapterInfo);
const flag = process.argv.indexOf("--shape");
const shape: Shape = flag > 0 ? (process.argv[flag + 1] as Shape) : software ? "small" : "100m";
const gpu = new Session(gpuBackend);
const cpu = new Session(new CpuBackend());

console.log(`machine: ${cpus()[0]?.model ?? "unknown cpu"} x${cpus().length}, ${platform()} ${arch()}, node ${process.version}`);
console.log(`webgpu adapter: ${gpuBackend.adapterInfo}${software ? " (software rasterizer: figures only show the path runs)" : ""}`);
console.log(`shape: ${shape}, webgpu linear weights ${weights}, ${STEPS} timed steps after 2 warm-up steps\n`);
console.log("| model | params | batch | webgpu tok/s | cpu tok/s | webgpu / cpu | launches per step (saved by fused chains) |");
console.log("| --- | --- | --- | --- | --- | --- | --- |");
for (const make of [denseRetNet, mamba]) {
  const m = make(shape);
  for (const batch of [1, 8]) {
    let before = { ...gpuBackend.stats };
    const g = await decodeRate(gpu, m.lm, batch, () => (before = { ...gpuBackend.stats }));
    const { runs, dispatches, saved } = gpuBackend.stats;
    const steps = runs - before.runs;
    const launches = `${((dispatches - before.dispatches) / steps).toFixed(0)} (${((saved - before.saved) / steps).toFixed(0)})`;
    const c = await decodeRate(cpu, m.lm, batch);
    console.log(`| ${m.name} | ${(m.lm.module.numParameters() / 1e6).toFixed(1)}M | ${batch} | ${g.toFixed(2)} | ${c.toFixed(2)} | ${(g / c).toFixed(2)}x | ${launches} |`);
  }
}
gpu.dispose();
gpuBackend.dispose();
