import { CpuBackend } from "@densessm/backend-cpu";
import { CausalLM, Rng, Session, Tensor, type Graph, type Module } from "@densessm/core";
import { MambaConfig } from "@densessm/mamba";
import { DenseGauRetNetConfig } from "@densessm/retnet";
import { describe, expect, it } from "vitest";
import { loadNodeRuntime, OnnxBackend } from "../src/index.js";

// A training step's whole graph (forward + autodiff backward) lowered as one ONNX model, with
// parameters fed as inputs: every gradient must match the reference CPU backend to 1e-4.

const onnx = new OnnxBackend(await loadNodeRuntime());

function ids(rng: Rng, batch: number, length: number, vocab: number): Tensor {
  return Tensor.int32(Array.from({ length: batch * length }, () => rng.int(vocab)), [batch, length]);
}

async function compareGradients(module: Module, graph: Graph, feeds: Record<string, Tensor>): Promise<{ compared: number; worst: number }> {
  const results = await Promise.all(
    [new CpuBackend(), onnx].map(async (backend) => {
      const session = new Session(backend);
      session.setParameters(module.namedParameters());
      return session.run(graph, feeds);
    }),
  );
  const [cpu, ort] = results as [Record<string, Tensor>, Record<string, Tensor>];
  let worst = 0;
  let compared = 0;
  for (const [name, expected] of Object.entries(cpu)) {
    const actual = ort[name];
    expect(actual, `output ${name}`).toBeDefined();
    const e = expected.toFloat32();
    const a = actual!.toFloat32();
    expect(a.length).toBe(e.length);
    for (let i = 0; i < e.length; i++) {
      const err = Math.abs(a[i]! - e[i]!) / Math.max(1, Math.abs(e[i]!));
      worst = Math.max(worst, err);
      if (err > 1e-4) throw new Error(`${name}[${i}]: onnx ${a[i]}, cpu ${e[i]}`);
    }
    compared++;
  }
  return { compared, worst };
}

describe("training-step gradients, onnx vs cpu", () => {
  for (const mode of ["parallel", "chunkwise"] as const) {
    it(`DenseRetNet (${mode} form)`, async () => {
      const config = DenseGauRetNetConfig.fromJSON({
        model_type: "llama", hidden_size: 32, query_key_dim: 8, num_attention_heads: 2, num_hidden_layers: 3,
        vocab_size: 29, v_factor: 1, dense_block_layers: 2, rms_norm_eps: 1e-6, tie_word_embeddings: false,
      });
      const lm = CausalLM.fromConfig(config, { seed: 5, chunkSize: 4 });
      lm.module.train();
      const graph = lm.trainGraph(2, 12, mode);
      const rng = new Rng(8);
      const x = ids(rng, 2, 12, 29);
      const { compared, worst } = await compareGradients(lm.module, graph, { input_ids: x, labels: x });
      expect(compared).toBeGreaterThan(lm.module.namedParameters().length / 2);
      expect(worst).toBeLessThanOrEqual(1e-4);
    });
  }

  it("Mamba (selective scan, causal conv, backward scan)", async () => {
    const lm = CausalLM.fromConfig(new MambaConfig({ dModel: 16, nLayer: 2, vocabSize: 31, dState: 4, dConv: 4, expand: 2 }), { seed: 3 });
    const graph = lm.trainGraph(2, 21);
    const x = ids(new Rng(4), 2, 21, 31);
    const { compared, worst } = await compareGradients(lm.module, graph, { input_ids: x, labels: x });
    expect(compared).toBeGreaterThan(lm.module.namedParameters().length);
    expect(worst).toBeLessThanOrEqual(1e-4);
  });
});
