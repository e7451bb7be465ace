// Both official fixtures (state-spaces Mamba and DenseGAU-RetNet reference logits, models/) in
// every forward form, to 1e-4: the bar every backend meets. Shared by the GPU backends' tests.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { CausalLM, type Session } from "@densessm/core";
import "@densessm/mamba"; // registers the families of the fixtures
import "@densessm/retnet";
import { describe, expect, it } from "vitest";
import { maxAbsDiff } from "./compare.js";

export const models = fileURLToPath(new URL("../../../models/", import.meta.url));

interface Case {
  input_ids: number[][];
  logits_parallel: number[][][];
  logits_recurrent: number[][][];
}
const readCase = (dir: string): Case => JSON.parse(readFileSync(`${models}${dir}/case.json`, "utf8")) as Case;

/** Declares the fixture tests for `session` (named `backend` in the test names). */
export function officialFixtures(backend: string, session: Session): void {
  for (const [fixture, shape] of [["mamba-tiny", [2, 11, 101]], ["dense-gau-retnet-tiny", [2, 9, 97]]] as const) {
    describe(`${fixture} fixture on ${backend}`, async () => {
      const c = readCase(fixture);
      const lm = await CausalLM.fromPretrained(`${models}${fixture}`);
      for (const mode of ["parallel", "chunkwise", "recurrent"] as const) {
        it(`${mode} logits match the reference to 1e-4`, async () => {
          const logits = await lm.logits(session, c.input_ids, mode);
          expect(logits.shape).toEqual(shape);
          const ref = (mode === "recurrent" ? c.logits_recurrent : c.logits_parallel).flat(2);
          expect(maxAbsDiff(logits.toFloat32(), ref)).toBeLessThanOrEqual(1e-4);
        });
      }
      if (fixture === "dense-gau-retnet-tiny") {
        it("chunkwise logits in chunks of 4 (state carried across chunks) match the reference to 1e-4", async () => {
          const chunked = await CausalLM.fromPretrained(`${models}${fixture}`, { chunkSize: 4 });
          const logits = await chunked.logits(session, c.input_ids, "chunkwise");
          expect(maxAbsDiff(logits.toFloat32(), c.logits_parallel.flat(2))).toBeLessThanOrEqual(1e-4);
        });
      }
    });
  }
}
