// Load test, bounded in time, against `densessm serve` run as users run it (the CLI, its own
// process, 127.0.0.1): 64 concurrent streaming clients, a quarter aborting at random moments. Zero
// 5xx; every stream not aborted complete; every abort seen by the server; its RSS after the run
// within 10 % of before. Then SIGTERM: the stream in flight finishes and the process exits 0.
// Throughput is printed here (speed targets live in benchmarks: bench/load.bench.ts holds the 4x).
import { cpus } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadRun, metric, singleStreamRate, startServe, streamCompletion, tinyModel, type ServeProcess } from "../bench/load.js";

const CLIENTS = 64;
const ABORTING = CLIENTS / 4;
const TOKENS = 48;
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

describe("densessm serve under load", () => {
  let server: ServeProcess;
  beforeAll(async () => {
    server = await startServe(["--model", tinyModel, "--backend", "cpu", "--max-batch", String(CLIENTS), "--shutdown-timeout", "20000"]);
  });
  afterAll(() => {
    if (server.child.exitCode === null) server.child.kill("SIGKILL");
  });

  it(`serves ${CLIENTS} concurrent streams, ${ABORTING} of them aborted, with zero 5xx and flat memory`, async () => {
    const { url } = server;
    // Warm up with the same load, twice: the step graph of every batch bucket gets compiled and the
    // heap reaches its working size (a run takes well under a second now, too short for one run to
    // see the garbage collector settle), so the RSS comparison measures what a run leaves behind.
    await loadRun(url, CLIENTS, ABORTING, TOKENS, 16, "Warm-up client");
    await loadRun(url, CLIENTS, ABORTING, TOKENS, 18, "Warm-up client");
    const single = await singleStreamRate(url, TOKENS);
    const rssBefore = await metric(url, "densessm_resident_memory_bytes");
    const cancelledBefore = await metric(url, "densessm_cancelled_requests_total");
    const stepsBefore = await metric(url, "densessm_decode_steps_total");
    const rowsBefore = await metric(url, "densessm_decode_rows_total");

    const run = await loadRun(url, CLIENTS, ABORTING, TOKENS, 17);

    while ((await metric(url, "densessm_active_streams")) > 0 || (await metric(url, "densessm_queue_depth")) > 0) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 500));
    const rssAfter = await metric(url, "densessm_resident_memory_bytes");
    const cancelled = (await metric(url, "densessm_cancelled_requests_total")) - cancelledBefore;
    const meanBatch = ((await metric(url, "densessm_decode_rows_total")) - rowsBefore) / ((await metric(url, "densessm_decode_steps_total")) - stepsBefore);
    const completed = run.results.filter((_, i) => !run.aborting.has(i));
    const aborted = run.results.filter((r) => r.aborted);
    console.log(
      [
        "",
        "load test",
        `  machine            ${cpus().length} x ${cpus()[0]?.model.trim() ?? "cpu"}, Node ${process.version}, backend cpu, model mamba-tiny`,
        `  clients            ${CLIENTS} streaming (${ABORTING} aborted at random), ${TOKENS} tokens each`,
        `  5xx responses      ${run.results.filter((r) => r.status >= 500).length}`,
        `  completed streams  ${completed.filter((r) => r.finished && r.tokens === TOKENS).length} of ${completed.length}`,
        `  aborted streams    ${aborted.length} (the server counted ${cancelled} cancelled requests)`,
        `  single stream      ${single.toFixed(1)} tokens/s (median of 3)`,
        `  aggregate          ${run.tokensPerSecond.toFixed(1)} tokens/s, ${(run.tokensPerSecond / single).toFixed(1)}x single (${run.seconds.toFixed(1)} s, mean batch ${meanBatch.toFixed(1)})`,
        `  server RSS         ${mib(rssBefore)} before, ${mib(rssAfter)} after (${(((rssAfter - rssBefore) / rssBefore) * 100).toFixed(1)} %)`,
        "",
      ].join("\n"),
    );

    expect(run.results.filter((r) => r.status >= 500)).toEqual([]);
    for (const r of completed) expect(r).toMatchObject({ status: 200, finished: true, tokens: TOKENS, aborted: false });
    expect(aborted.length).toBeGreaterThan(0);
    expect(cancelled).toBe(aborted.filter((r) => r.tokens < TOKENS).length); // every one the server was still serving
    expect(Math.abs(rssAfter - rssBefore) / rssBefore).toBeLessThanOrEqual(0.1);
  });

  it("finishes the stream in flight on SIGTERM, refuses new work, and exits 0", async () => {
    const { url } = server;
    const inFlight = streamCompletion(url, "Last words:", 40);
    while ((await metric(url, "densessm_active_streams")) === 0) await new Promise((r) => setTimeout(r, 10));
    const t0 = performance.now();
    server.child.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 100));
    const late = await fetch(`${url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "mamba-tiny", prompt: "late" }) }).then(
      (r) => r.status,
      () => "refused",
    );
    expect([503, "refused"]).toContain(late);
    expect(await inFlight).toMatchObject({ finished: true, tokens: 40 });
    expect(await server.exited).toBe(0);
    console.log(`  SIGTERM            the stream in flight completed; exit 0 after ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  });
});
