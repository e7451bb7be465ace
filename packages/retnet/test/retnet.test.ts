import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CpuBackend } from "@densessm/backend-cpu";
import { CausalLM, gradName, parameterFiniteDifference, Rng, Session, Tensor } from "@densessm/core";
import { describe, expect, it } from "vitest";
import type { RetentionModel} from "../src/index.js";
import { RetNetConfig } from "../src/index.js";
import { maxAbsDiff, randomIds } from "./helpers.js";

const base = {
  model_type: "retnet",
  decoder_embed_dim: 32,
  decoder_value_embed_dim: 48,
  decoder_retention_heads: 2,
  decoder_ffn_embed_dim: 40,
  decoder_layers: 3,
  vocab_size: 17,
  activation_fn: "swish",
  layernorm_eps: 1e-6,
};

describe("classic RetNet and its dense variant", () => {
  for (const dense of [0, 2]) {
    const name = dense ? `DenseRetNet (m = ${dense})` : "RetNet";
    it(`${name}: torchscale parameter names`, () => {
      const lm = CausalLM.fromConfig(RetNetConfig.fromJSON({ ...base, dense_block_layers: dense }), { seed: 1 });
      const names = lm.module.namedParameters().map(([n]) => n);
      expect(names).toContain("embed_tokens.weight");
      expect(names).toContain("layers.0.retention.g_proj.weight");
      expect(names).toContain("layers.2.ffn.gate.weight");
      expect(names).toContain("layers.2.final_layer_norm.weight");
      expect(names).toContain("output_projection.weight");
      expect(names.some((n) => n.includes("k_select"))).toBe(dense > 0);
      expect(names.some((n) => n.includes("group_norm"))).toBe(false); // no affine group norm in torchscale
    });

    it(`${name}: the three forms agree (L = 1, 7, 64)`, async () => {
      const lm = CausalLM.fromConfig(RetNetConfig.fromJSON({ ...base, dense_block_layers: dense }), { seed: 2 });
      const withoutDivisor = new CausalLM((lm.model as RetentionModel).withOptions({ rowNormalize: false }));
      const session = new Session(new CpuBackend());
      for (const len of [1, 7, 64]) {
        const ids = randomIds(new Rng(len), 2, len, 17);
        const exact = await withoutDivisor.logits(session, ids, "parallel");
        const official = await lm.logits(session, ids, "parallel");
        const recurrent = await lm.logits(session, ids, "recurrent");
        lm.chunkSize = 5;
        const chunked = await lm.logits(session, ids, "chunkwise");
        expect(maxAbsDiff(recurrent, exact.toFloat32())).toBeLessThanOrEqual(1e-4);
        expect(maxAbsDiff(chunked, exact.toFloat32())).toBeLessThanOrEqual(1e-4);
        expect(maxAbsDiff(recurrent, official.toFloat32())).toBeLessThanOrEqual(1e-3);
      }
    });

    it(`${name}: save/load round trip and a gradient check`, async () => {
      const lm = CausalLM.fromConfig(RetNetConfig.fromJSON({ ...base, dense_block_layers: dense }), { seed: 3, chunkSize: 2 });
      const dir = await mkdtemp(join(tmpdir(), "retnet-classic-"));
      try {
        await lm.save(dir);
        const again = await CausalLM.fromPretrained(dir);
        expect(again.family).toBe(dense ? "dense-retnet" : "retnet");
        for (const [n, t] of lm.module.stateDict()) expect(Array.from(again.module.stateDict().get(n)!.data), n).toEqual(Array.from(t.data));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
      const session = new Session(new CpuBackend());
      lm.bind(session);
      const ids = randomIds(new Rng(5), 2, 5, 17);
      const feeds = { input_ids: Tensor.int32(ids.flat(), [2, 5]), labels: Tensor.int32(ids.flat(), [2, 5]) };
      const g = lm.lossGraph(2, 5, "chunkwise");
      const out = await session.run(lm.trainGraph(2, 5, "chunkwise"), feeds);
      const rng = new Rng(8);
      const fdAt = (p: (typeof params)[number][1], i: number, eps: number) => parameterFiniteDifference(session, g, feeds, p, i, eps);
      const params = lm.module.namedParameters();
      let checked = 0;
      let bent = 0;
      // The dense variant's layer 0 carries k/v select MLPs and norms (torchscale checkpoints have
      // them) but has no earlier layer to fuse, so the loss cannot reach them: no gradient, by design.
      const unreachable = (pname: string) => dense > 0 && /^layers\.0\.retention\.(k_select|v_select|k_norm|v_norm)\./.test(pname);
      expect(params.filter(([pname]) => unreachable(pname))).toHaveLength(dense > 0 ? 6 : 0);
      for (const [pname, p] of params) {
        const grad = out[gradName(pname)];
        if (unreachable(pname)) {
          expect(grad, pname).toBeUndefined(); // not even in the graph
          continue;
        }
        expect(grad, `gradient of ${pname}`).toBeDefined();
        for (let trial = 0; trial < 2; trial++) {
          const i = rng.int(p.value.size);
          // Near q·k = 0 the first token's per-head group norm bends sharply, and a finite
          // difference is meaningless there: only coordinates where two step sizes agree count.
          const coarse = await fdAt(p, i, 4e-3);
          const fine = await fdAt(p, i, 2e-3);
          if (Math.abs(coarse - fine) > 2e-2 * Math.abs(fine) + 3e-4) {
            bent++;
            continue;
          }
          checked++;
          expect(Math.abs(fine - grad!.toFloat32()[i]!), `${pname}[${i}]`).toBeLessThanOrEqual(3e-2 * Math.abs(fine) + 5e-4);
        }
      }
      // The tiny random DenseRetNet bends at many coordinates (first-token group norm); demand a majority of smooth ones.
      expect(checked).toBeGreaterThan(bent);
    });
  }

  it("rejects bad configs", () => {
    expect(() => RetNetConfig.fromJSON({ ...base, activation_fn: "relu" })).toThrow(/activation_fn/);
    expect(() => RetNetConfig.fromJSON({ ...base, decoder_retention_heads: 3 })).toThrow(/divisible/);
    expect(() => RetNetConfig.fromJSON({ ...base, decoder_layers: 0 })).toThrow(/decoder_layers/);
  });
});
