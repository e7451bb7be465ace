// Every model family honours core's CausalLM contract the same way: decoding (prefill, then one
// token per step) reproduces the recurrent logits, and lossGraph computes the shifted loss.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { argmax, CausalLM, Session, Tensor } from "@densessm/core";
import { describe, expect, it } from "vitest";
import "@densessm/lm"; // registers the model families
import "../src/backends.js";

const repo = fileURLToPath(new URL("../../..", import.meta.url));
const session = await Session.create("cpu");

function maxDiff(a: Float32Array, b: Float32Array): number {
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
}

describe.each(["dense-gau-retnet-tiny", "mamba-tiny"])("%s", (name) => {
  let lm: CausalLM;
  const ids = [
    [5, 17, 3, 42, 8, 9, 1, 30],
    [2, 2, 60, 7, 11, 4, 19, 25],
  ];

  it("loads through the model-family registry", async () => {
    lm = await CausalLM.fromPretrained(join(repo, "models", name));
    lm.bind(session);
    expect(lm.modes).toContain("recurrent");
  });

  it("decodes after a prefill exactly as the recurrent form runs the whole sequence", async () => {
    const full = await lm.logits(session, ids, "recurrent");
    const [b, l, v] = full.shape as [number, number, number];
    const at = (t: number) => {
      const out = new Float32Array(b * v);
      for (let i = 0; i < b; i++) out.set(full.toFloat32().subarray((i * l + t) * v, (i * l + t + 1) * v), i * v);
      return out;
    };
    const prefix = 3;
    const decoder = await lm.startDecoding(session, ids.map((r) => r.slice(0, prefix)));
    const first = await decoder.logits();
    expect(first.shape).toEqual([b, v]);
    expect(maxDiff(first.toFloat32(), at(prefix - 1))).toBeLessThan(1e-4);
    for (let t = prefix; t < l; t++) {
      await decoder.step(ids.map((r) => r[t]!));
      expect(maxDiff((await decoder.logits()).toFloat32(), at(t))).toBeLessThan(1e-4);
    }
    decoder.dispose();
  });

  it("draws the greedy token on the backend, in the same run as the step", async () => {
    const full = (await lm.logits(session, ids, "recurrent")).toFloat32();
    const [b, l] = [ids.length, ids[0]!.length];
    const v = full.length / (b * l);
    const greedy = (t: number) => ids.map((_, i) => argmax(full.subarray((i * l + t) * v, (i * l + t + 1) * v)));
    const draw = { uniforms: new Float32Array(b) };
    const decoder = await lm.startDecoding(session, ids.map((r) => r.slice(0, 1)));
    expect([...(await decoder.sample(draw))]).toEqual(greedy(0));
    for (let t = 1; t < l; t++) expect([...(await decoder.step(ids.map((r) => r[t]!), draw))]).toEqual(greedy(t));
    await expect(decoder.step([1], draw)).rejects.toThrow(/expected 2 tokens/);
    await expect(decoder.sample({ uniforms: new Float32Array(3) })).rejects.toThrow(/expected 2 uniforms/);
    await expect(decoder.sample({ ...draw, temperature: -1 })).rejects.toThrow(/temperature must be a finite number >= 0/);
    await expect(decoder.sample({ ...draw, temperature: 1, topK: 2.5 })).rejects.toThrow(/topK must be a non-negative integer/);
    await expect(decoder.sample({ ...draw, temperature: 1, topP: 0 })).rejects.toThrow(/topP must be in \(0, 1\]/);
    await expect(decoder.sample({ ...draw, vocabSize: 0 })).rejects.toThrow(/vocabSize must be a positive integer/);
    decoder.dispose();
  });

  it("computes the shifted cross-entropy in lossGraph", async () => {
    const logits = (await lm.logits(session, ids, "parallel")).toFloat32();
    const [b, l] = [ids.length, ids[0]!.length];
    const v = logits.length / (b * l);
    let total = 0;
    for (let i = 0; i < b; i++)
      for (let t = 0; t + 1 < l; t++) {
        const row = logits.subarray((i * l + t) * v, (i * l + t + 1) * v);
        const mx = Math.max(...row);
        total += Math.log(row.reduce((s, x) => s + Math.exp(x - mx), 0)) + mx - row[ids[i]![t + 1]!]!;
      }
    const input = Tensor.int32(ids.flat(), [b, l]);
    const { loss } = await session.run(lm.lossGraph(b, l), { input_ids: input, labels: input });
    expect(loss!.item()).toBeCloseTo(total / (b * (l - 1)), 4);
  });
});
