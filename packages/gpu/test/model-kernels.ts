// The retnet and fusion composites' kernels against backend-cpu, shared by the GPU backends' tests.
import { CausalLM, lower, type Backend, type SymTensor, type Tensor } from "@densessm/core";
import { denseFusion } from "@densessm/fusion";
import { chunkwiseRetention, DenseGauRetNetConfig, parallelRetention } from "@densessm/retnet";
import { describe, expect, it } from "vitest";
import { randn } from "./compare.js";

type Agree = (fn: (xs: SymTensor[]) => SymTensor, inputs: Tensor[], tol?: number) => Promise<void>;

/** Declares the cases: `agree` compares with backend-cpu on the backend under test, `backend`. */
export function modelKernelCases(agree: Agree, backend: Backend): void {
  describe("retention and dense fusion kernels", () => {
    // DenseGAU-RetNet's decays for 3 heads; classic RetNet's slowest (1 - 2^-12) tests the running
    // scale where 1 - γ^(t+1) would cancel.
    const gammas = [1 - 2 ** -5, 1 - 2 ** -6, 1 - 2 ** -7];
    const qkv = (batch: number, len: number, dk: number, dv: number, heads = 3) => [randn([batch, heads, len, dk]), randn([batch, heads, len, dk]), randn([batch, heads, len, dv])];

    it("parallel with the row divisor, B = 2, dv over two ragged column blocks", () =>
      agree(([q, k, v]) => parallelRetention(q!, k!, v!, { gammas, rowNormalize: true }), qkv(2, 13, 6, 65)));
    it("parallel without the row divisor, longer rows", () => agree(([q, k, v]) => parallelRetention(q!, k!, v!, { gammas, rowNormalize: false }), qkv(1, 40, 4, 8)));
    it("chunkwise, L not a multiple of the chunk, from position 5, dk ≠ dv", () =>
      agree(([q, k, v]) => chunkwiseRetention(q!, k!, v!, { gammas, chunkSize: 4, start: 5 }), qkv(2, 13, 6, 5)));
    it("chunkwise with one token per chunk (all carried state)", () => agree(([q, k, v]) => chunkwiseRetention(q!, k!, v!, { gammas, chunkSize: 1 }), qkv(1, 6, 4, 3)));
    it("chunkwise and parallel with a decay of 1 - 2^-12", async () => {
      const slow = [1 - 2 ** -12];
      await agree(([q, k, v]) => chunkwiseRetention(q!, k!, v!, { gammas: slow, chunkSize: 3 }), qkv(1, 8, 4, 4, 1));
      await agree(([q, k, v]) => parallelRetention(q!, k!, v!, { gammas: slow }), qkv(1, 8, 4, 4, 1));
    });
    it("dense fusion of six shallow states (two dispatches)", () =>
      agree(([current, gate, ...shallow]) => denseFusion(current!, gate!, shallow), Array.from({ length: 8 }, () => randn([3, 70]))));

    it("keep a model's retention and dense fusion as single nodes, with no decay mask", () => {
      const lm = CausalLM.fromConfig(DenseGauRetNetConfig.fromJSON({ model_type: "llama", hidden_size: 32, query_key_dim: 8, num_attention_heads: 2, num_hidden_layers: 3, vocab_size: 13, v_factor: 1, dense_block_layers: 1 }), { seed: 3 });
      const lowered = lower(lm.sequenceGraph(1, 9), (op) => backend.capabilities.ops.has(op));
      expect(lowered.nodes.filter((n) => n.op === "retnet.parallelRetention")).toHaveLength(3);
      expect(lowered.nodes.filter((n) => n.op === "fusion.denseFusion")).toHaveLength(4);
      expect(lowered.nodes.filter((n) => n.op === "const" && n.shape.length === 3 && n.shape[1] === 9 && n.shape[2] === 9)).toEqual([]);
    });
  });
}
