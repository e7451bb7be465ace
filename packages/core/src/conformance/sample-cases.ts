import * as ops from "../ops/api.js";
import type { SampleAttrs } from "../ops/sample.js";
import { Rng } from "../runtime/rng.js";
import { Tensor } from "../tensor/tensor.js";
import type { OpConformanceSpec } from "./op-cases.js";
import type { Ref } from "./reference.js";

/**
 * The exact meaning of `sample` in float64, with sorted (not bisected) thresholds: temperature,
 * keep the weights at or above the k-th largest, then those at or above the smallest weight whose
 * descending running mass reaches topP, then inverse CDF in vocabulary order.
 */
function sampleRef(logits: Ref, uniforms: Ref, { temperature, topK, topP }: SampleAttrs): Ref {
  const [rows, vocab] = logits.shape as [number, number];
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    const row = logits.data.slice(r * vocab, (r + 1) * vocab);
    if (temperature === 0) {
      out.push(row.indexOf(Math.max(...row)));
      continue;
    }
    const top = Math.max(...row) / temperature;
    let w = row.map((x) => Math.exp(x / temperature - top));
    const cut = (tau: number) => (w = w.map((v) => (v >= tau ? v : 0)));
    if (topK > 0 && topK < vocab) cut([...w].sort((a, b) => b - a)[topK - 1]!);
    if (topP < 1) {
      const desc = w.filter((v) => v > 0).sort((a, b) => b - a);
      const goal = topP * desc.reduce((a, b) => a + b, 0);
      let mass = 0;
      cut(desc.find((v) => (mass += v) >= goal) ?? desc[desc.length - 1]!);
    }
    const goal = uniforms.data[r]! * w.reduce((a, b) => a + b, 0);
    let running = 0;
    let drawn = w.findIndex((v) => (running += v) > goal);
    if (drawn < 0) drawn = w.findLastIndex((v) => v > 0);
    out.push(drawn);
  }
  return { shape: [rows], data: out };
}

/**
 * `sample` cases: rows that repeat one distribution, each with the next point of a uniform grid,
 * so a backend must reproduce the distribution's quantiles, under every filter.
 */
export function sampleSpecs(): OpConformanceSpec[] {
  // Their own generator, so adding them leaves the other cases' inputs as they were.
  const rng = new Rng(2024);
  const rand = (shape: number[], lo: number, hi: number) => Tensor.float32(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => lo + (hi - lo) * rng.uniform()), shape);
  const rows = 40;
  const vocab = 23;
  const one = rand([vocab], -3, 3).toFloat32();
  const logits = Tensor.float32(Array.from({ length: rows * vocab }, (_, i) => one[i % vocab]!), [rows, vocab]);
  const grid = Tensor.float32(Array.from({ length: rows }, (_, i) => (i + 0.5) / rows), [rows]);
  const tied = rand([5, 37], -2, 2).toFloat32();
  for (let r = 0; r < 5; r++) tied[r * 37 + 4 + r] = tied[r * 37 + 30] = 2.5; // two maxima per row: the first wins
  const greedyIn = [new Tensor(tied, [5, 37], "float32"), Tensor.float32(Array.from({ length: 5 }, () => rng.uniform()))];
  const spec = (name: string, inputs: Tensor[], attrs: SampleAttrs): OpConformanceSpec => ({
    name: `sample ${name}`,
    op: "sample",
    inputs,
    fn: ([l, u]) => ops.sample(l!, u!, attrs),
    expected: ([l, u]) => sampleRef(l!, u!, attrs),
    gradInputs: [],
  });
  return [
    spec("greedy, first of tied maxima", greedyIn, { temperature: 0, topK: 0, topP: 1 }),
    spec("temperature", [logits, grid], { temperature: 0.9, topK: 0, topP: 1 }),
    spec("top-k", [logits, grid], { temperature: 1.2, topK: 6, topP: 1 }),
    spec("top-p", [logits, grid], { temperature: 1, topK: 0, topP: 0.6 }),
    spec("top-k then top-p", [logits, grid], { temperature: 0.7, topK: 8, topP: 0.8 }),
  ];
}
