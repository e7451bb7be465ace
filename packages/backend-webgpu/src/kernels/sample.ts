import { SAMPLE_SEARCH_STEPS, type SampleAttrs } from "@densessm/core";
import type { KernelFactory } from "./types.js";
import { single } from "./types.js";
import { NEG_INF, bindings, f32Lit, grid, groupMain, maxOf, rowReduce, sumOf, treeReduce, u32Lit } from "./wgsl.js";

const GROUP = 64;

/**
 * `sample`: one workgroup per row of logits draws that row's token, as core's decomposition does
 * (see SAMPLE): the max, the top-k and top-p thresholds by bisection (each step one reduction
 * over the row), then the inverse CDF in vocabulary order from blockwise running sums. Only the
 * int32 token ids are written, so decoding reads back 4 bytes per row.
 */
export const sampleKernel: KernelFactory = (node, [logits]) => {
  const [rows, vocab] = logits!.shape as [number, number];
  const attrs = node.attrs as SampleAttrs;
  const greedy = attrs.temperature === 0;
  // Greedy draws ignore the uniforms, so they bind the logits alone (unused bindings are invalid).
  const inputs = greedy ? [{ name: "x", type: "f32" as const }] : [{ name: "x", type: "f32" as const }, { name: "u", type: "f32" as const }];
  const head = `${bindings(inputs, { name: "y", type: "i32" })}
var<workgroup> part: array<f32, ${GROUP}>;
var<workgroup> at: array<u32, ${GROUP}>;
fn keep(w: f32, tau: f32) -> f32 { return select(0.0, w, w >= tau); }`;
  const body = greedy ? argmaxBody(rows, vocab) : drawBody(rows, vocab, attrs);
  return single(`${head}\n${groupMain(GROUP, body)}`, grid(rows), inputs.length);
};

/** The first index of the row's largest value: per-thread strided scans, then a (value, index) tree. */
function argmaxBody(rows: number, vocab: number): string {
  const better = (a: string, b: string) => `part[${b}] > part[${a}] || (part[${b}] == part[${a}] && at[${b}] < at[${a}])`;
  const tree: string[] = [];
  for (let s = GROUP / 2; s >= 1; s /= 2) {
    tree.push(`  if (tid < ${s}u && (${better("tid", `tid + ${s}u`)})) { part[tid] = part[tid + ${s}u]; at[tid] = at[tid + ${s}u]; }`, "  workgroupBarrier();");
  }
  return `  if (item >= ${u32Lit(rows)}) { return; }
  let base = item * ${u32Lit(vocab)};
  var best = ${NEG_INF};
  var index = ${u32Lit(vocab)};
  for (var j = tid; j < ${u32Lit(vocab)}; j += ${GROUP}u) {
    let v = x[base + j];
    if (v > best || index == ${u32Lit(vocab)}) { best = v; index = j; }
  }
  part[tid] = best;
  at[tid] = index;
  workgroupBarrier();
${tree.join("\n")}
  if (tid == 0u) { y[item] = i32(at[0]); }`;
}

/** Every thread's copy of the row sum of `value` (an f32 expression of j), as `let name`. */
const rowSum = (name: string, value: string, vocab: number): string => rowReduce(name, { length: vocab, value, init: "0.0", combine: sumOf, size: GROUP });

/** Bisection for the largest τ in [0, 1] where `holds` (of the row sum `${name}_s` of `sumOf` at `mid`) is true. */
function bisect(name: string, sumOf: string, holds: string, vocab: number): string {
  return `  var ${name}_lo = 0.0;
  var ${name}_hi = 1.0;
  for (var step = 0u; step < ${SAMPLE_SEARCH_STEPS}u; step++) {
    let mid = (${name}_lo + ${name}_hi) * 0.5;
${rowSum(`${name}_s`, sumOf, vocab).replace(/^/gm, "  ")}
    let ok = ${holds};
    ${name}_lo = select(${name}_lo, mid, ok);
    ${name}_hi = select(mid, ${name}_hi, ok);
  }
  let ${name} = ${name}_lo;`;
}

function drawBody(rows: number, vocab: number, { temperature, topK, topP }: SampleAttrs): string {
  const invT = f32Lit(Math.fround(1 / temperature));
  const block = Math.ceil(vocab / GROUP);
  // Weights after each filter, as WGSL expressions of j: recomputed rather than stored, because a
  // row of logits does not fit in workgroup memory.
  const w = `exp(x[base + j] * ${invT} - mx)`;
  const filterK = topK > 0 && topK < vocab;
  const wk = filterK ? `keep(${w}, tau_k)` : w;
  const filterP = topP < 1;
  const wp = filterP ? `keep(${wk}, tau_p)` : wk;
  const parts = [
    `  if (item >= ${u32Lit(rows)}) { return; }
  let base = item * ${u32Lit(vocab)};
${rowReduce("mx", { length: vocab, value: `x[base + j] * ${invT}`, init: NEG_INF, combine: maxOf, size: GROUP })}`,
  ];
  if (filterK) parts.push(bisect("tau_k", `select(0.0, 1.0, ${w} >= mid)`, `tau_k_s >= ${f32Lit(topK)}`, vocab));
  if (filterP) {
    parts.push(rowSum("mass", wk, vocab), `  let goal = mass * ${f32Lit(Math.fround(topP))};`);
    parts.push(bisect("tau_p", `keep(${wk}, mid)`, "tau_p_s >= goal", vocab));
  }
  // Inverse CDF: thread t owns the block [t·B, (t+1)·B). Block sums, their exclusive prefix, then
  // each thread counts the running sums in its block at or below u · total; the count is capped
  // at the last token with weight, as in the decomposition.
  parts.push(`  let first = tid * ${u32Lit(block)};
  let end = min(first + ${u32Lit(block)}, ${u32Lit(vocab)});
  var own = 0.0;
  for (var j = first; j < end; j++) { own += ${wp}; }
  part[tid] = own;
  workgroupBarrier();
  var before = 0.0;
  var total = 0.0;
  for (var t = 0u; t < ${GROUP}u; t++) {
    if (t == tid) { before = total; }
    total += part[t];
  }
  let goal_mass = u[item] * total;
  var running = before;
  var count = 0u;
  var last = 0u;
  for (var j = first; j < end; j++) {
    let wj = ${wp};
    running += wj;
    if (running <= goal_mass) { count++; }
    if (wj > 0.0) { last = j; }
  }
  workgroupBarrier();
  at[tid] = count;
  part[tid] = f32(last);
  workgroupBarrier();
${treeReduce("at", GROUP, sumOf)}
${treeReduce("part", GROUP, maxOf)}
  if (tid == 0u) { y[item] = i32(min(at[0], u32(part[0]))); }`);
  return parts.join("\n");
}
