// Both official fixtures on webgpu, in every forward form, to 1e-4 (@densessm/gpu's suite: the bar
// every backend meets); quantized, against backend-cpu.
import { CausalLM, type Session } from "@densessm/core";
import { describe, expect, it } from "vitest";
import { models, officialFixtures } from "../../gpu/test/official-fixtures.js";
import { cpu, gpu, maxAbsDiff } from "./helpers.js";

officialFixtures("webgpu", gpu);

describe("quantized fixtures on webgpu (the fused quantized kernels, codes as raw bytes)", () => {
  const ids = [[5, 17, 3, 60, 2, 41, 9, 12, 33, 7]];
  for (const [fixture, options] of [["dense-gau-retnet-tiny", { bits: 8 }], ["dense-gau-retnet-tiny", { bits: 4, groupSize: 32 }], ["mamba-tiny", { bits: 4, groupSize: 64 }]] as const) {
    it(`${fixture}, ${options.bits} bits: logits (prefill) as on backend-cpu, and the same greedy tokens`, async () => {
      const lm = await CausalLM.fromPretrained(`${models}${fixture}`);
      lm.quantize(options);
      // backend-cpu rounds activations to 16-bit integers per block (about 1e-4 of an output).
      const [got, want] = [await lm.logits(gpu, ids, "parallel"), await lm.logits(cpu, ids, "parallel")];
      expect(maxAbsDiff(got.toFloat32(), want.toFloat32())).toBeLessThanOrEqual(1e-3);
      const greedy = async (session: Session) => {
        const decoder = await lm.startDecoding(session, [[5, 17, 3]]);
        const draw = { uniforms: new Float32Array(1) };
        const tokens = [3];
        for (let t = 0; t < 8; t++) tokens.push((await decoder.step([tokens.at(-1)!], draw))[0]!);
        decoder.dispose();
        return tokens;
      };
      expect(await greedy(gpu)).toEqual(await greedy(cpu));
    });
  }
});
