// The released DenseGAU-RetNet 350M layout (373,277,184 parameters; k select 1536→192, v select
// 1536→48) with random weights, written once per format into a temporary folder and removed after
// loading: it loads through safetensors, pytorch_model.bin and a sharded .bin to the same weights,
// bit for bit, and generates. The heaviest test of the suite (≈1.5 GB per format, a few minutes on
// two cores); the loading benchmark (`pnpm --filter @densessm/lm bench`) measures its time and memory.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CausalLM, type Tensor } from "@densessm/core";
import "@densessm/backend-cpu";
import { afterAll, describe, expect, it } from "vitest";
import { LanguageModel } from "../src/index.js";
import { RELEASED_350M_CONFIG, RELEASED_350M_PARAMETERS, writeSynthetic350M, type SyntheticFormat } from "./released-350m.js";

const root = await mkdtemp(join(tmpdir(), "densessm-350m-"));
afterAll(() => rm(root, { recursive: true, force: true }));

function sameBits(a: Tensor, b: Tensor): boolean {
  const x = new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  const y = new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength);
  return a.dtype === b.dtype && x.length === y.length && Buffer.compare(x, y) === 0;
}

describe("the released 350M layout", () => {
  it("has 373,277,184 parameters with k fc1 1536→192 and v fc1 1536→48", () => {
    const lm = CausalLM.fromConfig(RELEASED_350M_CONFIG, { initialize: false });
    expect(lm.numParameters()).toBe(RELEASED_350M_PARAMETERS);
    const sd = lm.stateDict();
    expect(sd.get("model.layers.0.self_attn.k_select.fc1.weight")!.shape).toEqual([192, 1536]);
    expect(sd.get("model.layers.0.self_attn.v_select.fc1.weight")!.shape).toEqual([48, 1536]);
    expect(sd.get("model.layers.15.self_attn.v_select.fc2.weight")!.shape).toEqual([3072, 48]);
  });

  it("loads through safetensors, .bin and sharded .bin to the same weights, and generates", { timeout: 900_000 }, async () => {
    let first: Map<string, Tensor> | undefined;
    for (const format of ["safetensors", "bin", "sharded-bin"] as SyntheticFormat[]) {
      const dir = join(root, format);
      await writeSynthetic350M(dir, format);
      const lm = await CausalLM.fromPretrained(dir);
      expect(lm.numParameters(), format).toBe(RELEASED_350M_PARAMETERS);
      const weights = lm.stateDict();
      if (!first) {
        first = weights;
        const model = await LanguageModel.fromPretrained(dir, { backend: "cpu" });
        const text = await model.complete("abc", { maxNewTokens: 2 });
        expect(text.length, "generated text").toBeGreaterThan(0);
      } else {
        for (const [name, t] of first) expect(sameBits(weights.get(name)!, t), `${format}: ${name}`).toBe(true);
      }
      await rm(dir, { recursive: true, force: true });
    }
  });
});
