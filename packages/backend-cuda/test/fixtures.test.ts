// Both official fixtures (state-spaces Mamba and DenseGAU-RetNet reference logits) on the CUDA
// backend over the mock driver, in every forward form, to 1e-4: the bar every backend meets.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { CausalLM, Session } from "@densessm/core";
import "@densessm/mamba"; // registers the families of the fixtures
import "@densessm/retnet";
import { describe, expect, it } from "vitest";
import { mockBackend } from "./helpers.js";

const models = fileURLToPath(new URL("../../../models/", import.meta.url));
const { backend, driver } = await mockBackend();
const session = new Session(backend);

interface Case {
  input_ids: number[][];
  logits_parallel: number[][][];
  logits_recurrent: number[][][];
}
const readCase = (dir: string): Case => JSON.parse(readFileSync(`${models}${dir}/case.json`, "utf8")) as Case;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

for (const [dir, shape] of [["mamba-tiny", [2, 11, 101]], ["dense-gau-retnet-tiny", [2, 9, 97]]] as const) {
  describe(`${dir} fixture on cuda (mock driver)`, async () => {
    const c = readCase(dir);
    const lm = await CausalLM.fromPretrained(`${models}${dir}`);
    for (const mode of ["parallel", "chunkwise", "recurrent"] as const) {
      it(`${mode} logits match the reference to 1e-4`, async () => {
        const logits = await lm.logits(session, c.input_ids, mode);
        expect(logits.shape).toEqual(shape);
        const ref = (mode === "recurrent" ? c.logits_recurrent : c.logits_parallel).flat(2);
        expect(maxAbsDiff(logits.toFloat32(), ref)).toBeLessThanOrEqual(1e-4);
      });
    }
  });
}

describe("dense-gau-retnet-tiny in chunks of 4 on cuda (mock driver)", () => {
  it("carries the state across chunks: logits match the reference to 1e-4", async () => {
    const c = readCase("dense-gau-retnet-tiny");
    const lm = await CausalLM.fromPretrained(`${models}dense-gau-retnet-tiny`, { chunkSize: 4 });
    const logits = await lm.logits(session, c.input_ids, "chunkwise");
    expect(maxAbsDiff(logits.toFloat32(), c.logits_parallel.flat(2))).toBeLessThanOrEqual(1e-4);
  });

  it("ran the recurrent steps as CUDA graphs once they repeated", () => {
    expect(backend.runtime.graphs!.stats.replays).toBeGreaterThan(0);
    expect(driver.calls.cuGraphLaunch).toBe(backend.runtime.graphs!.stats.replays);
  });
});
