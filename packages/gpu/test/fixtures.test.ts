// Both official fixtures (state-spaces Mamba and DenseGAU-RetNet reference logits) through the GPU
// executor on the interpreter runtime, in every forward form, to 1e-4: the bar every backend meets.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { CausalLM } from "@densessm/core";
import "@densessm/mamba"; // registers the families of the fixtures
import "@densessm/retnet";
import { describe, expect, it } from "vitest";
import { interp, maxAbsDiff } from "./helpers.js";

const models = fileURLToPath(new URL("../../../models/", import.meta.url));

interface Case {
  input_ids: number[][];
  logits_parallel: number[][][];
  logits_recurrent: number[][][];
}
const readCase = (dir: string): Case => JSON.parse(readFileSync(`${models}${dir}/case.json`, "utf8")) as Case;

describe("mamba-tiny fixture on gpu-interpreter", async () => {
  const c = readCase("mamba-tiny");
  const model = await CausalLM.fromPretrained(`${models}mamba-tiny`);
  for (const mode of ["parallel", "chunkwise", "recurrent"] as const) {
    it(`${mode} logits match the reference to 1e-4`, async () => {
      const logits = await model.logits(interp, c.input_ids, mode);
      expect(logits.shape).toEqual([2, 11, 101]);
      const ref = (mode === "recurrent" ? c.logits_recurrent : c.logits_parallel).flat(2);
      expect(maxAbsDiff(logits.toFloat32(), ref)).toBeLessThanOrEqual(1e-4);
    });
  }
});

describe("dense-gau-retnet-tiny fixture on gpu-interpreter", async () => {
  const c = readCase("dense-gau-retnet-tiny");
  const lm = await CausalLM.fromPretrained(`${models}dense-gau-retnet-tiny`);
  for (const mode of ["parallel", "chunkwise", "recurrent"] as const) {
    it(`${mode} logits match the reference to 1e-4`, async () => {
      const logits = await lm.logits(interp, c.input_ids, mode);
      expect(logits.shape).toEqual([2, 9, 97]);
      const ref = (mode === "recurrent" ? c.logits_recurrent : c.logits_parallel).flat(2);
      expect(maxAbsDiff(logits.toFloat32(), ref)).toBeLessThanOrEqual(1e-4);
    });
  }
  it("chunkwise logits in chunks of 4 (state carried across chunks) match the reference to 1e-4", async () => {
    const retnet = await CausalLM.fromPretrained(`${models}dense-gau-retnet-tiny`, { chunkSize: 4 });
    const logits = await retnet.logits(interp, c.input_ids, "chunkwise");
    expect(maxAbsDiff(logits.toFloat32(), c.logits_parallel.flat(2))).toBeLessThanOrEqual(1e-4);
  });
});
