import { CpuBackend } from "@densessm/backend-cpu";
import { CausalLM, gradName, parameterFiniteDifference, Rng, Session, Tensor } from "@densessm/core";
import { describe, expect, it } from "vitest";
import "../src/index.js"; // registers the families
import type { DenseGauRetNetForCausalLM } from "../src/index.js";
import { randomIds, tinyConfig } from "./helpers.js";


describe("causal LM loss", () => {
  it("is the shifted cross-entropy, ignoring -100", async () => {
    const lm = CausalLM.fromConfig(tinyConfig(), { seed: 11 });
    const session = new Session(new CpuBackend());
    const ids = randomIds(new Rng(2), 2, 5, 13);
    const labels = ids.map((row) => [...row]);
    labels[0]![2] = -100;
    labels[1]![0] = 5; // position 0 is never a target after the shift
    lm.bind(session);
    const out = await session.run(lm.lossGraph(2, 5), { input_ids: Tensor.int32(ids.flat(), [2, 5]), labels: Tensor.int32(labels.flat(), [2, 5]) });
    const logits = (await lm.logits(session, ids, "parallel")).toFloat32();
    let total = 0;
    let count = 0;
    for (let b = 0; b < 2; b++) {
      for (let t = 0; t < 4; t++) {
        const target = labels[b]![t + 1]!;
        if (target === -100) continue;
        const row = Array.from(logits.subarray((b * 5 + t) * 13, (b * 5 + t + 1) * 13));
        const max = Math.max(...row);
        const lse = max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
        total += lse - row[target]!;
        count++;
      }
    }
    expect(count).toBe(7);
    expect(out.loss!.item()).toBeCloseTo(total / count, 5);
  });
});

describe("finite-difference gradient check, tiny DenseRetNet end to end", () => {
  for (const mode of ["parallel", "chunkwise"] as const) {
    it(`${mode} form`, async () => {
      const lm = CausalLM.fromConfig(tinyConfig({ num_hidden_layers: 3, dense_block_layers: 2 }), { seed: 21, chunkSize: 4 });
      // Larger-than-default embeddings so every parameter gets a gradient well above float32 noise.
      const emb = (lm.module as DenseGauRetNetForCausalLM).model.embed_tokens.weight.value.data as Float32Array;
      for (let i = 0; i < emb.length; i++) emb[i]! *= 25;
      lm.module.train(); // no dropout anywhere; train() only flags the mode
      const session = new Session(new CpuBackend());
      lm.bind(session);
      const ids = randomIds(new Rng(4), 2, 6, 13);
      const feeds = { input_ids: Tensor.int32(ids.flat(), [2, 6]), labels: Tensor.int32(ids.flat(), [2, 6]) };
      const g = lm.lossGraph(2, 6, mode);
      const out = await session.run(lm.trainGraph(2, 6, mode), feeds);
      const rng = new Rng(9);
      let checked = 0;
      let significant = 0;
      for (const [name, p] of lm.module.namedParameters()) {
        // Layer 0 has select MLPs and k/v norms too (they are in the checkpoints) but does not use them.
        const unused = /layers\.0\.self_attn\.(k_select|v_select|k_norm|v_norm)/.test(name);
        if (unused) {
          expect(out[gradName(name)], name).toBeUndefined(); // not even in the graph
          continue;
        }
        const grad = out[gradName(name)]!.toFloat32();
        for (let trial = 0; trial < 3; trial++) {
          const i = rng.int(p.value.size);
          const fd = await parameterFiniteDifference(session, g, feeds, p, i, 5e-3);
          expect(Math.abs(fd - grad[i]!), `${name}[${i}] fd=${fd} grad=${grad[i]}`).toBeLessThanOrEqual(2e-2 * Math.abs(fd) + 2e-4);
          checked++;
          if (Math.abs(fd) > 1e-3) significant++;
        }
      }
      expect(checked).toBeGreaterThan(50);
      expect(significant).toBeGreaterThan(checked / 2);
    });
  }
});
