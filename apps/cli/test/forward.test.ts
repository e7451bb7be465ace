import { execFile } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { cli } from "./helpers.js";

const repo = fileURLToPath(new URL("../../..", import.meta.url));
const model = (name: string) => join(repo, "models", name);

describe("densessm forward reproduces the official fixtures", () => {
  const cases = [
    ["dense-gau-retnet-tiny", ["parallel", "recurrent", "chunkwise"]],
    ["mamba-tiny", ["parallel", "recurrent", "chunkwise"]],
  ] as const;
  for (const [name, modes] of cases)
    for (const mode of modes)
      it(`${name} ${mode}`, async () => {
        const dir = await mkdtemp(join(tmpdir(), "densessm-fwd-"));
        const outFile = join(dir, "out.json");
        const dirOf = model(name);
        const r = await cli("forward", "--model", dirOf, "--ids", join(dirOf, "ids.json"), "--mode", mode, "--out", outFile, "--reference", join(dirOf, "case.json"), "--json");
        expect(r.err).toBe("");
        expect(r.code).toBe(0);
        const summary = JSON.parse(r.out) as { maxAbsErrorVsReference: number; shape: number[] };
        expect(summary.maxAbsErrorVsReference).toBeLessThanOrEqual(1e-4);
        // The written file holds the same logits the summary was computed from.
        const official = JSON.parse(await readFile(join(dirOf, "case.json"), "utf8")) as Record<string, number[][][]>;
        const written = JSON.parse(await readFile(outFile, "utf8")) as { logits: number[][][] };
        const ref = official[mode === "recurrent" ? "logits_recurrent" : "logits_parallel"]!;
        expect(written.logits.length).toBe(ref.length);
        const err = Math.max(...written.logits.flat(2).map((v, i) => Math.abs(v - ref.flat(2)[i]!)));
        expect(err).toBeLessThanOrEqual(1e-4);
        expect(summary.shape).toEqual([ref.length, ref[0]!.length, ref[0]![0]!.length]);
      });
});

describe("densessm forward rejects bad input with one line naming the problem", () => {
  const dir = model("mamba-tiny");
  const bad = async (content: string) => {
    const d = await mkdtemp(join(tmpdir(), "densessm-bad-"));
    await writeFile(join(d, "ids.json"), content);
    return join(d, "ids.json");
  };
  it.each([
    ["a missing model folder", async () => ["--model", "/nonexistent/model", "--ids", join(dir, "ids.json")], /nonexistent\/model is neither a model folder \(no config.json\)/],
    ["a missing ids file", async () => ["--model", dir, "--ids", "/nonexistent/ids.json"], /cannot read ids file \/nonexistent\/ids.json: no such file/],
    ["ids that are not JSON", async () => ["--model", dir, "--ids", await bad("[[1, 2")], /is not valid JSON/],
    ["ragged rows", async () => ["--model", dir, "--ids", await bad("[[1, 2], [3]]")], /row 1 has 1 ids, row 0 has 2/],
    ["an id outside the vocabulary", async () => ["--model", dir, "--ids", await bad("[[1, 500]]")], /id 500 is outside the model's vocabulary of 101/],
    ["a negative id", async () => ["--model", dir, "--ids", await bad("[[1, -2]]")], /-2 is not a non-negative integer id/],
    ["an unknown backend", async () => ["--model", dir, "--ids", join(dir, "ids.json"), "--backend", "tpu"], /unknown backend "tpu"; registered: .*cpu/],
  ])("%s", async (_what, args, message) => {
    const r = await cli("forward", ...(await args()));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(message);
    expect(r.err.trim().split("\n")).toHaveLength(1);
  });

  it("an unknown mode is refused by the argument parser", async () => {
    const r = await cli("forward", "--model", dir, "--ids", join(dir, "ids.json"), "--mode", "sideways");
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/Allowed choices are parallel, recurrent, chunkwise/);
  });
});

describe("the pnpm densessm script", () => {
  it("runs the real command from the repository root", async () => {
    const { stdout } = await promisify(execFile)("pnpm", ["-s", "densessm", "forward", "--model", "models/mamba-tiny", "--ids", "models/mamba-tiny/ids.json", "--mode", "recurrent", "--backend", "cpu", "--reference", "models/mamba-tiny/case.json"], { cwd: repo });
    expect(stdout).toMatch(/mamba: recurrent forward on cpu, logits \[2, 11, 101\]/);
    expect(Number(/max \|logits - reference\| = (\S+)/.exec(stdout)![1])).toBeLessThanOrEqual(1e-4);
  });
});
