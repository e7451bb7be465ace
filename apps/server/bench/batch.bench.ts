/**
 * `pnpm bench` (from this package, or the root's `pnpm bench`): batched decode throughput of
 * BatchDecoder — the continuous batch `densessm serve` runs — at batch 1, 8 and 64, against batch 1
 * in the same run, on the cpu backend. Prints a Markdown table.
 *
 * Method: each stream has its own prompt (so streams stand at different positions) and its own
 * seed, and samples (temperature 0.8); streams join after their prefill, then 4 untimed steps
 * (compiles, JIT) and STEPS timed ones. tokens/s = streams / the median step time. Every batch size
 * is warmed up once before any is timed, so batch 1 is not measured on a cold JIT.
 * Models: the repository's tiny Mamba and DenseGAU-RetNet (models/*-tiny), and a "small" shape of
 * each with random weights (d_model 256, 4 layers, vocabulary 4096), where the model's arithmetic
 * rather than per-op overhead dominates. BENCH_STEPS sets the timed steps.
 */
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { CpuBackend } from "@densessm/backend-cpu";
import { BatchDecoder, CausalLM, Session } from "@densessm/core";
import "@densessm/lm"; // registers the families

const STEPS = Number(process.env.BENCH_STEPS ?? 12);
const BATCHES = [1, 8, 64];
const repo = fileURLToPath(new URL("../../..", import.meta.url));

const models: [string, () => Promise<CausalLM>][] = [
  ["mamba-tiny", () => CausalLM.fromPretrained(`${repo}/models/mamba-tiny`)],
  ["dense-gau-retnet-tiny", () => CausalLM.fromPretrained(`${repo}/models/dense-gau-retnet-tiny`)],
  ["mamba small", async () => CausalLM.fromConfig({ d_model: 256, n_layer: 4, vocab_size: 4096, ssm_cfg: {} })],
  ["dense-retnet small", async () => CausalLM.fromConfig({ model_type: "retnet", decoder_embed_dim: 256, decoder_retention_heads: 2, decoder_layers: 4, vocab_size: 4096, dense_block_layers: 2 })],
];

async function rate(lm: CausalLM, session: Session, streams: number, steps: number): Promise<number> {
  const batch = new BatchDecoder(lm, session, { maxBatch: streams });
  for (let i = 0; i < streams; i++) {
    const prompt = Array.from({ length: 1 + (i % 7) }, (_, t) => 1 + ((i * 13 + t * 7) % (lm.vocabSize - 1)));
    await batch.join(await lm.startDecoding(session, [prompt]), { temperature: 0.8, seed: i });
  }
  for (let i = 0; i < 4; i++) await batch.step();
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    await batch.step();
    times.push(performance.now() - t0);
  }
  batch.dispose();
  times.sort((a, b) => a - b);
  return streams / (times[Math.floor(steps / 2)]! / 1000);
}

const session = new Session(new CpuBackend());
console.log(`BatchDecoder decode throughput, cpu backend, ${cpus().length} x ${cpus()[0]?.model.trim()}, Node ${process.version}, median of ${STEPS} timed steps\n`);
console.log(`| model | ${BATCHES.map((b) => `batch ${b} (tokens/s)`).join(" | ")} | ${BATCHES.slice(1).map((b) => `batch ${b} / batch 1`).join(" | ")} |`);
console.log(`| --- | ${BATCHES.map(() => "---:").join(" | ")} | ${BATCHES.slice(1).map(() => "---:").join(" | ")} |`);
for (const [name, load] of models) {
  const lm = await load();
  lm.bind(session);
  for (const b of BATCHES) await rate(lm, session, b, 2); // warm-up
  const rates: number[] = [];
  for (const b of BATCHES) rates.push(await rate(lm, session, b, STEPS));
  console.log(`| ${name} | ${rates.map((r) => r.toFixed(0)).join(" | ")} | ${rates.slice(1).map((r) => `${(r / rates[0]!).toFixed(1)}x`).join(" | ")} |`);
}
