/**
 * Part of `pnpm bench`: aggregate streaming throughput of `densessm serve` with 64 concurrent
 * clients (a quarter aborting at random) against one stream alone, in the same run, on the cpu
 * backend with the tiny Mamba (apps/web's, character tokenizer). The target is 4x.
 *
 * Method: the server runs through the CLI in its own process on 127.0.0.1; one warm-up round of
 * the full load compiles every batch bucket; one stream alone is timed three times (median); then
 * the 64 clients: tokens received by all of them divided by the run's wall time.
 */
import { cpus } from "node:os";
import { loadRun, metric, singleStreamRate, startServe, tinyModel } from "./load.js";

const CLIENTS = 64;
const TOKENS = Number(process.env.BENCH_TOKENS ?? 64);
const server = await startServe(["--model", tinyModel, "--backend", "cpu", "--max-batch", String(CLIENTS)]);
try {
  await loadRun(server.url, CLIENTS, CLIENTS / 4, TOKENS, 16, "Warm-up client");
  const single = await singleStreamRate(server.url, TOKENS);
  const steps = await metric(server.url, "densessm_decode_steps_total");
  const rows = await metric(server.url, "densessm_decode_rows_total");
  const run = await loadRun(server.url, CLIENTS, CLIENTS / 4, TOKENS, 17);
  const meanBatch = ((await metric(server.url, "densessm_decode_rows_total")) - rows) / ((await metric(server.url, "densessm_decode_steps_total")) - steps);
  const ratio = run.tokensPerSecond / single;
  console.log(`\ndensessm serve streaming throughput, cpu backend, mamba-tiny, ${cpus().length} x ${cpus()[0]?.model.trim()}, Node ${process.version}\n`);
  console.log("| clients | tokens/s | vs one stream |");
  console.log("| --- | ---: | ---: |");
  console.log(`| 1 (median of 3) | ${single.toFixed(0)} | 1.0x |`);
  console.log(`| ${CLIENTS} (${CLIENTS / 4} aborting; mean batch ${meanBatch.toFixed(1)}) | ${run.tokensPerSecond.toFixed(0)} | ${ratio.toFixed(1)}x |`);
  console.log(`\ntarget: ${CLIENTS} clients at least 4x one stream: ${ratio >= 4 ? "met" : "NOT met"} (${ratio.toFixed(1)}x)`);
} finally {
  server.child.kill("SIGTERM");
  await server.exited;
}
