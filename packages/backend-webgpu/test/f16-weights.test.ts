// Opt-in packed float16 storage of linear-layer weights (`weights: "f16"`). It needs no shader-f16
// (core WGSL packs and unpacks the halves), so it runs on SwiftShader too; on a device with
// shader-f16 the same kernels run unchanged.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { CausalLM, ops, Parameter, Session, trace } from "@densessm/core";
import "@densessm/mamba"; // registers the family of the fixture
import { describe, expect, it } from "vitest";
import { WebGpuBackend } from "../src/index.js";
import { cpu, maxAbsDiff, randn } from "./helpers.js";

const backend = await WebGpuBackend.create({ weights: "f16" });
const half = new Session(backend);

describe("float16 linear weights", () => {
  for (const [rows, form] of [[3, "matrix-vector"], [40, "tiled"]] as const) {
    it(`${form} products equal float32 products with float16-rounded weights`, async () => {
      const w = randn([70, 95]); // odd K: the last word of each row holds one half
      const x = randn([rows, 95]);
      const p = new Parameter(w);
      const g = trace((v) => ({ y: ops.linear(v.x!, p) }), { inputs: { x: { shape: x.shape } }, parameters: [["w", p]] });
      half.setParameters([["w", p]]);
      const got = (await half.run(g, { x })).y!;
      cpu.setParameters([["w", w.to("float16").to("float32")]]);
      const want = (await cpu.run(g, { x })).y!;
      expect(maxAbsDiff(got.toFloat32(), want.toFloat32())).toBeLessThanOrEqual(1e-5);
      // The packed copy is made once and dropped with its parameter.
      const live = backend.memory().liveBytes;
      await half.run(g, { x });
      expect(backend.memory().liveBytes).toBe(live);
      half.dispose();
    });
  }

  it("run the mamba fixture within float16 rounding of the reference", async () => {
    const dir = fileURLToPath(new URL("../../../models/mamba-tiny", import.meta.url));
    const c = JSON.parse(readFileSync(`${dir}/case.json`, "utf8")) as { input_ids: number[][]; logits_parallel: number[][][] };
    const model = await CausalLM.fromPretrained(dir);
    const err = maxAbsDiff((await model.logits(half, c.input_ids, "parallel")).toFloat32(), c.logits_parallel.flat(2));
    expect(err).toBeGreaterThan(0);
    // float16 weights round each product's weight by up to 2^-11 relative (pack2x16float's
    // rounding mode is the driver's): ~5e-3 here on logits of magnitude ~1, against 5e-6 in f32.
    expect(err).toBeLessThanOrEqual(2e-2);
  });
});
