/**
 * `pnpm bench` (from this package): GFLOP/s of the CPU backend's gemm against the textbook triple
 * loop, both measured in this run on this machine, at 512^3 and 2048^3. Prints a Markdown table.
 *
 * Method: warm-up runs first (so V8 has tiered everything up), then the median of several timed runs.
 * The naive loop at 2048^3 would take minutes, so it is timed on the first NAIVE_ROWS rows of A
 * (each row of C sweeps all of B exactly as in the full product, so the time per row carries over)
 * and scaled to 2048 rows; the table marks that figure as an estimate.
 */
import { cpus, platform, arch } from "node:os";
import { init, Rng } from "@densessm/core";
import { gemm, gemmTransB, naiveGemm } from "../src/kernels/matmul.js";

const NAIVE_ROWS = 64;

/** Seeded uniform floats in [-1, 1), so runs and failures reproduce. */
const random = (length: number, seed: number): Float32Array => init.uniform([length], -1, 1, new Rng(seed)).data as Float32Array;

function transpose(b: Float32Array, k: number, n: number): Float32Array {
  const t = new Float32Array(k * n);
  for (let p = 0; p < k; p++) for (let j = 0; j < n; j++) t[j * k + p] = b[p * n + j]!;
  return t;
}

/** Median wall time in ms of `runs` calls after `warmup` untimed ones. */
function time(fn: () => void, warmup: number, runs: number): number {
  for (let i = 0; i < warmup; i++) fn();
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    ms.push(performance.now() - t0);
  }
  ms.sort((x, y) => x - y);
  return ms[ms.length >> 1]!;
}

const gflops = (m: number, n: number, k: number, ms: number): number => (2 * m * n * k) / (ms * 1e6);

interface Row { size: number; ours: number; transB: number; naive: number; naiveNote: string }
const rows: Row[] = [];

for (const size of [512, 2048]) {
  const [m, n, k] = [size, size, size];
  const a = random(m * k, 1), b = random(k * n, 2), bt = transpose(b, k, n);
  const c = new Float32Array(m * n);
  const runs = size <= 512 ? 7 : 3;

  const oursMs = time(() => { c.fill(0); gemm(a, 0, b, 0, c, 0, m, n, k); }, 2, runs);
  const ours = c.slice();
  const transBMs = time(() => { c.fill(0); gemmTransB(a, 0, bt, 0, c, 0, m, n, k); }, 1, runs);

  let naive: number, naiveNote: string;
  if (size <= 512) {
    const naiveMs = time(() => naiveGemm(a, b, c, m, n, k), 1, 3);
    naive = gflops(m, n, k, naiveMs);
    naiveNote = "measured";
    // Sanity: the fast path computes the same product (to float32 rounding).
    let worst = 0;
    for (let i = 0; i < m * n; i++) worst = Math.max(worst, Math.abs(ours[i]! - c[i]!));
    if (worst > 1e-3) throw new Error(`gemm disagrees with the naive loop at ${size}^3 (max |diff| ${worst})`);
  } else {
    const r = NAIVE_ROWS;
    const naiveMs = time(() => naiveGemm(a, b, c, r, n, k), 1, 3);
    naive = gflops(r, n, k, naiveMs);
    naiveNote = `estimated: ${r} of ${m} rows timed`;
  }
  rows.push({ size, ours: gflops(m, n, k, oursMs), transB: gflops(m, n, k, transBMs), naive, naiveNote });
}

const cpu = cpus();
const f = (x: number): string => x.toFixed(2);
console.log(`\nmatmul (float32, single thread) — ${new Date().toISOString().slice(0, 10)}`);
console.log(`machine: ${cpu[0]?.model ?? "unknown CPU"}, ${cpu.length} cores, ${platform()}/${arch()}, Node ${process.version}\n`);
console.log("| size | gemm GFLOP/s | gemmTransB GFLOP/s | naive GFLOP/s | gemm / naive |");
console.log("|---|---:|---:|---:|---:|");
for (const r of rows) {
  const note = r.naiveNote === "measured" ? "" : ` (${r.naiveNote})`;
  console.log(`| ${r.size}³ | ${f(r.ours)} | ${f(r.transB)} | ${f(r.naive)}${note} | ${(r.ours / r.naive).toFixed(1)}× |`);
}
const at512 = rows[0]!.ours / rows[0]!.naive;
console.log(`\ntarget: ≥ 8× the naive loop at 512³ — ${at512 >= 8 ? "met" : "NOT met"} (${at512.toFixed(1)}×)`);
