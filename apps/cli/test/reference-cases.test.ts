// The official tiny models in every format a user may have them in (models/reference/cases.json:
// the official f16 .bin with rel-pos buffers, safetensors with the buffers, an f32 .bin; Mamba's
// tied f32 .bin, safetensors and an f16 .bin) match float64 logits in every mode on every backend
// here: as closely as the official float32 code does, or within 1e-4.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { CausalLM, Session, type ForwardMode } from "@densessm/core";
import "@densessm/lm";
import { describe, expect, it } from "vitest";
import "../src/backends.js";

const models = fileURLToPath(new URL("../../../models/", import.meta.url));
const cases = JSON.parse(readFileSync(`${models}reference/cases.json`, "utf8")) as { model: string; case: string }[];

interface Reference {
  input_ids: number[][];
  logits_parallel_f64: number[][][];
  logits_recurrent_f64: number[][][];
  official_f32_err_parallel?: number;
  official_f32_err_recurrent?: number;
}

const modes: ForwardMode[] = ["parallel", "chunkwise", "recurrent"];

describe.each(["cpu", "onnx"])("official tiny models in every format (%s)", (backend) => {
  it.each(cases)("$model", async ({ model, case: file }) => {
    const ref = JSON.parse(readFileSync(`${models}${file}`, "utf8")) as Reference;
    const lm = await CausalLM.fromPretrained(`${models}${model}`, { chunkSize: 4 });
    const session = await Session.create(backend);
    for (const mode of modes) {
      const expected = (mode === "recurrent" ? ref.logits_recurrent_f64 : ref.logits_parallel_f64).flat(2);
      const official = (mode === "recurrent" ? ref.official_f32_err_recurrent : ref.official_f32_err_parallel) ?? 0;
      const ours = (await lm.logits(session, ref.input_ids, mode)).toFloat32();
      let err = 0;
      for (let i = 0; i < ours.length; i++) err = Math.max(err, Math.abs(ours[i]! - expected[i]!));
      expect(err, `${mode}`).toBeLessThanOrEqual(Math.max(official, 1e-4));
    }
  });
});
