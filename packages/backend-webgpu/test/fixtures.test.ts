// Both official fixtures (state-spaces Mamba and DenseGAU-RetNet reference logits) on webgpu, in
// every forward form, to 1e-4: the same bar the CPU backend meets. Quantized, against backend-cpu.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { CausalLM, type Session } from "@densessm/core";
import "@densessm/mamba"; // registers the families of the fixtures
import "@densessm/retnet";
import { describe, expect, it } from "vitest";
import { cpu, gpu, maxAbsDiff } from "./helpers.js";

const models = fileURLToPath(new URL("../../../models/", import.meta.url));

interface Case {
  input_ids: number[][];
  logits_parallel: number[][][];
  logits_recurrent: number[][][];
}
const readCase = (dir: string): Case => JSON.parse(readFileSync(`${models}${dir}/case.json`, "utf8")) as Case;

describe("mamba-tiny fixture on webgpu", async () => {
  const c = readCase("mamba-tiny");
  const model = await CausalLM.fromPretrained(`${models}mamba-tiny`);
  for (const mode of ["parallel", "chunkwise", "recurrent"] as const) {
    it(`${mode} logits match the reference to 1e-4`, async () => {
      const logits = await model.logits(gpu, c.input_ids, mode);
      expect(logits.shape).toEqual([2, 11, 101]);
      const ref = (mode === "recurrent" ? c.logits_recurrent : c.logits_parallel).flat(2);
      expect(maxAbsDiff(logits.toFloat32(), ref)).toBeLessThanOrEqual(1e-4);
    });
  }
});

describe("dense-gau-retnet-tiny fixture on webgpu", async () => {
  const c = readCase("dense-gau-retnet-tiny");
  const lm = await CausalLM.fromPretrained(`${models}dense-gau-retnet-tiny`);
  for (const mode of ["parallel", "chunkwise", "recurrent"] as const) {
    it(`${mode} logits match the reference to 1e-4`, async () => {
      const logits = await lm.logits(gpu, c.input_ids, mode);
      expect(logits.shape).toEqual([2, 9, 97]);
      const ref = (mode === "recurrent" ? c.logits_recurrent : c.logits_parallel).flat(2);
      expect(maxAbsDiff(logits.toFloat32(), ref)).toBeLessThanOrEqual(1e-4);
    });
  }
  it("chunkwise logits in chunks of 4 (state carried across chunks) match the reference to 1e-4", async () => {
    const retnet = await CausalLM.fromPretrained(`${models}dense-gau-retnet-tiny`, { chunkSize: 4 });
    const logits = await retnet.logits(gpu, c.input_ids, "chunkwise");
    expect(maxAbsDiff(logits.toFloat32(), c.logits_parallel.flat(2))).toBeLessThanOrEqual(1e-4);
  });
});

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
