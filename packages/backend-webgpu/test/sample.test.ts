import { lower, ops, Tensor } from "@densessm/core";
import { describe, expect, it } from "vitest";
import { cpu, feedsOf, gpu, gpuBackend, graphOf, randn } from "./helpers.js";

// The fused `sample` kernel (bisected thresholds, like core's decomposition) draws the same tokens
// as backend-cpu's own exact kernel (sorted thresholds) and as core's decomposition (the graph
// lowered with `sample` expanded, run on backend-cpu), for the same logits and uniforms, under
// every filter combination.

const rows = 6;
const uniforms = Tensor.float32([0.02, 0.31, 0.5, 0.77, 0.93, 0.999], [rows]);

async function draws(logits: Tensor, options: { temperature?: number; topK?: number; topP?: number }) {
  const g = graphOf(([l, u]) => ops.sample(l!, u!, options), [logits, uniforms]);
  const decomposed = lower(g, (op) => op !== "sample");
  const feeds = feedsOf([logits, uniforms]);
  const [a, b, c] = await Promise.all([gpu.run(g, feeds), cpu.run(g, feeds), cpu.run(decomposed, feeds)]);
  return { gpu: [...a.y!.data], cpu: [...b.y!.data], decomposition: [...c.y!.data] };
}

describe(`sample kernel (${gpuBackend.adapterInfo})`, () => {
  const logits = randn([rows, 300], -4, 4);

  for (const options of [{}, { temperature: 1 }, { temperature: 0.7, topK: 5 }, { temperature: 1.3, topP: 0.8 }, { temperature: 1, topK: 20, topP: 0.5 }, { temperature: 2, topK: 1 }]) {
    it(`matches backend-cpu's kernel and the decomposition: ${JSON.stringify(options)}`, async () => {
      const r = await draws(logits, options);
      expect(r.gpu).toEqual(r.cpu);
      expect(r.gpu).toEqual(r.decomposition);
      expect(r.gpu.every((t) => t >= 0 && t < 300)).toBe(true);
    });
  }

  it("takes the first maximum on ties, and never draws a -inf (masked) token", async () => {
    const tied = Tensor.float32(Array.from({ length: rows * 70 }, (_, i) => (i % 70 === 3 || i % 70 === 66 ? 5 : i % 70 < 60 ? -Infinity : 0)), [rows, 70]);
    const greedy = await draws(tied, {});
    expect(greedy.gpu).toEqual(Array(rows).fill(3));
    expect(greedy.cpu).toEqual(greedy.gpu);
    expect(greedy.decomposition).toEqual(greedy.gpu);
    const drawn = await draws(tied, { temperature: 1 });
    expect(drawn.gpu).toEqual(drawn.cpu);
    expect(drawn.decomposition).toEqual(drawn.gpu);
    for (const t of drawn.gpu) expect(t === 3 || t >= 60).toBe(true);
  });
});
