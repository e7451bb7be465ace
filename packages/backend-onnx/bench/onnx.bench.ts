// pnpm bench (in packages/backend-onnx): training tokens/s for a small DenseRetNet on backend-onnx
// vs backend-cpu, and batch-1 decode tokens/s for the 350M DenseRetNet shape, in one run.
import { CpuBackend } from "@densessm/backend-cpu";
import { AdamW, CausalLM, Rng, Session, Tensor, type Backend } from "@densessm/core";
import { DenseGauRetNetConfig } from "@densessm/retnet";
import os from "node:os";
import { loadNodeRuntime, OnnxBackend } from "../src/index.js";

const args = new Set(process.argv.slice(2));
const quick = args.has("--quick");

function denseRetNet(hidden: number, layers: number, keyDim: number, vocab: number): DenseGauRetNetConfig {
  return DenseGauRetNetConfig.fromJSON({
    model_type: "llama", hidden_size: hidden, query_key_dim: keyDim, num_attention_heads: 2, num_hidden_layers: layers,
    v_factor: 2, dense_block_layers: 2, vocab_size: vocab, rms_norm_eps: 1e-6, tie_word_embeddings: false,
  });
}

async function trainingTokensPerSecond(backend: Backend, steps: number): Promise<{ tokensPerSecond: number; firstStep: number; loss: number }> {
  const [batch, len] = [8, 256];
  const lm = CausalLM.fromConfig(denseRetNet(256, 4, 128, 4096), { seed: 1 });
  lm.module.train();
  const params = lm.module.namedParameters();
  const session = new Session(backend);
  lm.bind(session);
  const graph = lm.trainGraph(batch, len);
  const optimizer = new AdamW(params, { lr: 1e-3 });
  const rng = new Rng(2);
  const step = async () => {
    const ids = Tensor.int32(Array.from({ length: batch * len }, () => rng.int(4096)), [batch, len]);
    const out = await session.run(graph, { input_ids: ids, labels: ids });
    optimizer.step(new Map(params.map(([name]) => [name, out[`grad:${name}`]!] as const).filter(([, g]) => g !== undefined)));
    return out.loss!.item();
  };
  let t = performance.now();
  let loss = await step(); // compiles
  const firstStep = (performance.now() - t) / 1000;
  t = performance.now();
  for (let i = 0; i < steps; i++) loss = await step();
  const seconds = (performance.now() - t) / 1000;
  session.dispose();
  return { tokensPerSecond: (steps * batch * len) / seconds, firstStep, loss };
}

/** Greedy batch-1 decoding as `generate` runs it: one step graph run per token, the draw included. */
async function decodeTokensPerSecond(backend: Backend, lm: CausalLM, tokens: number): Promise<number> {
  const session = new Session(backend);
  const decoder = await lm.startDecoding(session, [[1]]);
  const draw = { uniforms: new Float32Array(1) };
  let token = (await decoder.step([1], draw))[0]!; // compiles and uploads the weights
  const start = performance.now();
  for (let t = 0; t < tokens; t++) token = (await decoder.step([token], draw))[0]!;
  const seconds = (performance.now() - start) / 1000;
  decoder.dispose();
  session.dispose();
  return tokens / seconds;
}

const onnx = new OnnxBackend(await loadNodeRuntime());
const cpuName = os.cpus()[0]?.model ?? "unknown CPU";
console.log(`machine: ${os.cpus().length} x ${cpuName}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}, ${onnx.runtime.label}`);

console.log("\ntraining: DenseRetNet hidden 256, 4 layers, 2 heads, vocab 4096, seq 256, batch 8, AdamW (parallel form)");
const trainOnnx = await trainingTokensPerSecond(onnx, quick ? 1 : 3);
console.log(`  onnx: ${trainOnnx.tokensPerSecond.toFixed(0)} tokens/s (first step incl. compile ${trainOnnx.firstStep.toFixed(1)} s, loss ${trainOnnx.loss.toFixed(3)})`);
const trainCpu = await trainingTokensPerSecond(new CpuBackend(), 1);
console.log(`  cpu:  ${trainCpu.tokensPerSecond.toFixed(0)} tokens/s (loss ${trainCpu.loss.toFixed(3)})`);
console.log(`  onnx / cpu: ${(trainOnnx.tokensPerSecond / trainCpu.tokensPerSecond).toFixed(1)}x; target 2400 tokens/s: ${trainOnnx.tokensPerSecond >= 2400 ? "met" : `missed by ${(100 * (1 - trainOnnx.tokensPerSecond / 2400)).toFixed(0)} %`}`);

if (!args.has("--no-decode")) {
  const config = denseRetNet(1536, 16, 768, 32000);
  const lm = CausalLM.fromConfig(config, { seed: 3 });
  const count = lm.module.namedParameters().reduce((n, [, p]) => n + p.value.size, 0);
  console.log(`\ndecode: DenseRetNet hidden 1536, 16 layers, vocab 32000, random weights (${(count / 1e6).toFixed(0)} M params, ${(count * 4 / 1e9).toFixed(2)} GB f32), batch 1`);
  const decodeOnnx = await decodeTokensPerSecond(onnx, lm, quick ? 5 : 20);
  console.log(`  onnx: ${decodeOnnx.toFixed(2)} tokens/s; target 9.5: ${decodeOnnx >= 9.5 ? "met" : `missed by ${(100 * (1 - decodeOnnx / 9.5)).toFixed(0)} %`}`);
  const decodeCpu = await decodeTokensPerSecond(new CpuBackend(), lm, 2);
  console.log(`  cpu:  ${decodeCpu.toFixed(2)} tokens/s`);
  console.log(`  onnx / cpu: ${(decodeOnnx / decodeCpu).toFixed(1)}x`);
}
