import { Rng, trace } from "@densessm/core";
import { describe, expect, it } from "vitest";
import type { MambaLMHeadModel } from "../src/index.js";
import { cpuSession, createMamba } from "./helpers.js";

// CausalLM.hiddenStates for Mamba: the embedding, then hidden + residual after each layer, over a
// sequence streamed in several scan chunks. The last one through norm_f and the head is the logits.

describe("hidden states", () => {
  for (const dense of [undefined, { m: 2, gateInit: "default" as const }]) {
    it(dense ? "DenseMamba" : "Mamba", async () => {
      const lm = createMamba({ dModel: 16, nLayer: 3, vocabSize: 11, scanChunkSize: 4, dense }, 5);
      const session = cpuSession();
      const rng = new Rng(2);
      const ids = [Array.from({ length: 10 }, () => rng.int(11))];
      const states = await lm.hiddenStates(session, ids);
      expect(states.map((s) => s.shape)).toEqual(Array.from({ length: 4 }, () => [1, 10, 16]));
      const module = lm.module as MambaLMHeadModel;
      const head = trace(({ h }) => ({ logits: module.lm_head.forward(module.backbone.norm_f.forward(h!)) }), { inputs: { h: { shape: [1, 10, 16] } }, parameters: lm.module.namedParameters() });
      const fromLast = (await session.run(head, { h: states[3]! })).logits!.toFloat32();
      const logits = (await lm.logits(session, ids, "parallel")).toFloat32();
      expect(fromLast.length).toBe(logits.length);
      let worst = 0;
      for (let i = 0; i < logits.length; i++) worst = Math.max(worst, Math.abs(fromLast[i]! - logits[i]!));
      expect(worst).toBeLessThanOrEqual(1e-5);
      const table = module.backbone.embedding.weight.value;
      expect(states[0]!.toFloat32().subarray(0, 16)).toEqual(table.toFloat32().subarray(ids[0]![0]! * 16, ids[0]![0]! * 16 + 16));
    });
  }
});
