import { CpuBackend } from "@densessm/backend-cpu";
import { CausalLM, Rng, Session, trace, type Linear, type RMSNorm, type Tensor } from "@densessm/core";
import { describe, expect, it } from "vitest";
import "../src/index.js"; // registers the families
import { RetNetConfig, type DenseGauRetNetForCausalLM, type RetNetDecoder } from "../src/index.js";
import { maxAbsDiff, randomIds, tinyConfig } from "./helpers.js";

// CausalLM.hiddenStates: the embedding output, then every layer's output. Checked against what the
// model computes from them: the final norm and head of the last one are the logits, and the first
// is the embedding table's rows.

async function headOf(session: Session, lm: CausalLM, hidden: Tensor, norm: RMSNorm, head: Linear): Promise<Float32Array> {
  const graph = trace(({ h }) => ({ logits: head.forward(norm.forward(h!)) }), { inputs: { h: { shape: [...hidden.shape] } }, parameters: lm.module.namedParameters() });
  return (await session.run(graph, { h: hidden })).logits!.toFloat32();
}

describe("hidden states", () => {
  const session = new Session(new CpuBackend());
  const ids = randomIds(new Rng(1), 2, 7, 13);

  it("DenseGAU-RetNet: embedding, then one per layer; the last gives the logits", async () => {
    const lm = CausalLM.fromConfig(tinyConfig({ num_hidden_layers: 3, dense_block_layers: 2 }), { seed: 2 });
    const module = lm.module as DenseGauRetNetForCausalLM;
    const states = await lm.hiddenStates(session, ids);
    expect(states).toHaveLength(4);
    for (const s of states) expect(s.shape).toEqual([2, 7, 32]);
    const table = module.model.embed_tokens.weight.value.toFloat32();
    const first = states[0]!.toFloat32();
    ids.flat().forEach((id, t) => expect(maxAbsDiff(first.subarray(t * 32, (t + 1) * 32), table.subarray(id * 32, (id + 1) * 32))).toBe(0));
    const logits = await headOf(session, lm, states[3]!, module.model.norm, module.lm_head);
    expect(maxAbsDiff(logits, (await lm.logits(session, ids, "parallel")).toFloat32())).toBeLessThanOrEqual(1e-5);
  });

  it("a family without hiddenStates says so in one line", () => {
    const lm = CausalLM.fromConfig(tinyConfig(), { seed: 1 });
    const bare = Object.assign(Object.create(lm.model) as object, { hiddenStates: undefined }) as typeof lm.model;
    expect(() => new CausalLM(bare).hiddenStatesGraph(1, 4)).toThrow(/dense-gau-retnet does not expose its hidden states/);
  });

  it("RetNet: the last hidden state through layer_norm and output_projection is the logits", async () => {
    const lm = CausalLM.fromConfig(RetNetConfig.fromJSON({ decoder_embed_dim: 16, decoder_retention_heads: 2, decoder_layers: 2, vocab_size: 13, no_scale_embedding: false }), { seed: 3 });
    const module = lm.module as RetNetDecoder;
    const states = await lm.hiddenStates(session, ids);
    expect(states).toHaveLength(3);
    const logits = await headOf(session, lm, states[2]!, module.layer_norm, module.output_projection);
    expect(maxAbsDiff(logits, (await lm.logits(session, ids, "parallel")).toFloat32())).toBeLessThanOrEqual(1e-5);
    // The stack's input is the scaled embedding (no_scale_embedding: false).
    const table = module.embed_tokens.weight.value.toFloat32();
    expect(states[0]!.toFloat32()[0]).toBeCloseTo(table[ids[0]![0]! * 16]! * 4, 5);
  });
});
