// state-spaces Mamba saved by torch as pytorch_model.bin (models/mamba-tiny-bin): lm_head shares
// the embedding's storage, as a tied state_dict does. The logits are the official code's.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { CausalLM } from "@densessm/core";
import { describe, expect, it } from "vitest";
import "../src/index.js";
import { cpuSession, flat, maxAbsDiff, type Case } from "./helpers.js";

const BIN = fileURLToPath(new URL("../../../models/mamba-tiny-bin", import.meta.url));
const c = JSON.parse(readFileSync(`${BIN}/case.json`, "utf8")) as Case;

describe("state-spaces Mamba as pytorch_model.bin", () => {
  it.each(["parallel", "chunkwise", "recurrent"] as const)("matches the official logits in %s form", async (mode) => {
    const model = await CausalLM.fromPretrained(BIN);
    const ref = mode === "recurrent" ? c.logits_recurrent : c.logits_parallel;
    expect(maxAbsDiff(flat(await model.logits(cpuSession(), c.input_ids, mode)), ref.flat(2))).toBeLessThanOrEqual(1e-4);
  });

  it("keeps the tie: one parameter under both names", async () => {
    const model = await CausalLM.fromPretrained(BIN);
    const params = model.module.allNamedParameters();
    const head = params.find(([n]) => n === "lm_head.weight")![1];
    expect(params.find(([n]) => n === "backbone.embedding.weight")![1]).toBe(head);
  });
});
