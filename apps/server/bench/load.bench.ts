/**
 * Part of `pnpm bench`: aggregate streaming throughput of `densessm serve` with 64 concurrent
 * clients (a quarter aborting at random) against one stream alone, in the same run, on the cpu
 * backend with the tiny Mamba (apps/web's, character tokenizer). The target is 4x.
 *
 * Method: the server runs through the CLI in its own process on 127.0.0.1. For each stream length
 * (64 tokens: a short answer, where the 64 prefills and the ramp up and down take much of the run;
 * 256 tokens: a chat reply, the batch's steady state), one warm-up round of the full load compiles
 * every batch bucket; one stream alone is timed three times (median); then the 64 clients: tokens
 * received by all of them divided by the run's wall time. BENCH_TOKENS=n measures one length only.
 */
import { cpus } from "node:os";
import { loadRun, metric, singleStreamRate, startServe, tinyModel } from "./load.js";

const CLIENTS = 64;
const LENGTHS = process.env.BENCH_TOKENS ? [Number(process.env.BENCH_TOKENS)] : [64, 256];
const server = await startServe(["--model", tinyModel, "--backend", "cpu", "--max-batch", String(CLIENTS)]);
try {
  const rows: string[] = [];
  let steady = 0;
  for (const tokens of LENGTHS) {
    await loadRun(server.url, CLIENTS, CLIENTS / 4, tokens, 16, "Warm-up client");
    const single = await singleStreamRate(server.url, tokens);
    const steps = await metric(server.url, "densessm_decode_steps_total");
    const decoded = await metric(server.url, "densessm_decode_rows_total");
    const run = await loadRun(server.url, CLIENTS, CLIENTS / 4, tokens, 17);
    const meanBatch = ((await metric(server.url, "densessm_decode_rows_total")) - decoded) / ((await metric(server.url, "densessm_decode_steps_total")) - steps);
    steady = run.tokensPerSecond / single;
    rows.push(`| ${tokens} | ${single.toFixed(0)} | ${run.tokensPerSecond.toFixed(0)} (mean batch ${meanBatch.toFixed(1)}) | ${steady.toFixed(1)}x |`);
  }
  console.log(`\ndensessm serve streaming throughput, cpu backend, mamba-tiny, ${cpus().length} x ${cpus()[0]?.model.trim()}, Node ${process.version}\n`);
  console.log(`| tokens per stream | 1 stream (tokens/s, median of 3) | ${CLIENTS} clients, ${CLIENTS / 4} aborting (tokens/s) | vs one stream |`);
  console.log("| ---: | ---: | ---: | ---: |");
  for (const row of rows) console.log(row);
  console.log(`\ntarget: ${CLIENTS} clients at least 4x one stream at ${LENGTHS.at(-1)} tokens per stream: ${steady >= 4 ? "met" : "NOT met"} (${steady.toFixed(1)}x)`);
} finally {
  server.child.kill("SIGTERM");
  await server.exited;
}
