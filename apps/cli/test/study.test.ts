// `densessm study` and `densessm analyze`: the shipped grids are rerunnable as they stand (every
// configuration a preset or a checked-in config file, every compared pair within the size limit), a
// small grid runs, resumes and reports through the CLI, and analyze reads any model folder.
import { mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CausalLM, isPreset } from "@densessm/core";
import { readGrid, type HiddenStateAnalysis, type StudyReport } from "@densessm/lm";
import { beforeAll, describe, expect, it } from "vitest";
import { cli } from "./helpers.js";

const grids = fileURLToPath(new URL("../assets/study", import.meta.url));
const corpusFile = fileURLToPath(new URL("../assets/tinyshakespeare.txt", import.meta.url));

describe("the grids shipped with the CLI", () => {
  it("are listed, and each configuration is a preset or a checked-in config file", async () => {
    const files = (await readdir(grids)).filter((f) => f.endsWith(".json"));
    expect(files.length).toBeGreaterThanOrEqual(8);
    const listed = await cli("study", "--list");
    for (const file of files) {
      const grid = await readGrid(join(grids, file));
      expect(`${grid.name}.json`).toBe(file);
      expect(listed.out).toContain(grid.name);
      expect(grid.seeds?.length ?? 3).toBeGreaterThanOrEqual(3);
      for (const c of grid.configurations) {
        if (typeof c.model !== "string") throw new Error(`${grid.name}/${c.name}: a shipped grid names its models`);
        if (!isPreset(c.model)) expect(c.model.startsWith(join(grids, "configs")), `${grid.name}/${c.name}`).toBe(true);
      }
    }
  });

  it("compare configurations that differ by at most 2 % in parameters", async () => {
    for (const file of (await readdir(grids)).filter((f) => f.endsWith(".json"))) {
      const grid = await readGrid(join(grids, file));
      const vocab = grid.task === "mqar" ? (grid.mqar?.vocabSize ?? 256) : (grid.training?.vocabSize ?? 1024);
      const { configFor } = await import("@densessm/lm");
      const sizes = new Map<string, number>();
      for (const c of grid.configurations) sizes.set(c.name, CausalLM.fromConfig(await configFor(c.model, vocab)).numParameters());
      for (const c of grid.configurations) {
        if (!c.baseline) continue;
        const gap = Math.abs(sizes.get(c.name)! / sizes.get(c.baseline)! - 1);
        expect(gap, `${grid.name}: ${c.name} vs ${c.baseline}`).toBeLessThanOrEqual(0.02);
      }
    }
  });
});

describe("study and analyze through the CLI", () => {
  let dir = "";
  let gridFile = "";
  const run = (...extra: string[]) => cli("study", "--grid", gridFile, "--data", join(dir, "corpus.txt"), "--runs", join(dir, "runs"), "--out", join(dir, "out"), "--backend", "cpu", ...extra);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "densessm-study-cli-"));
    await writeFile(join(dir, "corpus.txt"), (await readFile(corpusFile, "utf8")).slice(0, 30_000));
    const tiny = { model_type: "llama", hidden_size: 32, query_key_dim: 16, num_attention_heads: 2, num_hidden_layers: 2, v_factor: 2 };
    await writeFile(join(dir, "dense.json"), JSON.stringify({ ...tiny, dense_block_layers: 1 }));
    await writeFile(join(dir, "plain.json"), JSON.stringify({ ...tiny, dense_block_layers: 0, dense_gate: false, dense_norm: false }));
    gridFile = join(dir, "tiny.json");
    await writeFile(
      gridFile,
      JSON.stringify({
        name: "tiny",
        seeds: [0, 1, 2],
        training: { steps: 3, batchSize: 2, seqLen: 16, evalBatches: 1, vocabSize: 400 },
        configurations: [
          { name: "dense", model: "dense.json", baseline: "plain", description: "m = 1" },
          { name: "plain", model: "plain.json" },
        ],
      }),
    );
  });

  it("runs a grid, reports it, and resumes without training again", async () => {
    const first = await run("--json");
    expect(first.code).toBe(0);
    const report = JSON.parse(first.out) as StudyReport;
    expect(report.seeds).toEqual([0, 1, 2]);
    expect(report.rows[0]!.difference!.differences).toHaveLength(3);
    const table = await readFile(join(dir, "out", "study.md"), "utf8");
    expect(table).toContain("densessm study --grid");
    expect(table).toMatch(/\| dense \| [\d,]+ \| plain \([−+]\d\.\d %\) \| \d\.\d{4} ± \d\.\d{4} \| [\d.]+ \| [−+]\d\.\d{4} \[[−+]\d\.\d{4}, [−+]\d\.\d{4}\] \|/);
    const again = await run();
    expect(again.code).toBe(0);
    expect(again.err).toContain("6 runs, 6 already finished");
    expect(again.err).not.toContain("training dense");
    const status = await cli("study", "--grid", gridFile, "--runs", join(dir, "runs"), "--status");
    expect(status.out).toMatch(/^tiny: finished, 6\/6 runs finished/);
  });

  it("analyze: per layer, for every model given, side by side", async () => {
    const out = join(dir, "analysis");
    const r = await cli("analyze", "--model", join(dir, "runs", "dense-seed0"), "--model", join(dir, "runs", "plain-seed0"), "--label", "dense", "--label", "plain", "--text", join(dir, "corpus.txt"), "--window", "32", "--max-tokens", "1024", "--out", out, "--backend", "cpu", "--json");
    expect(r.err).toBe("");
    const { analyses } = JSON.parse(r.out) as { analyses: HiddenStateAnalysis[] };
    expect(analyses.map((a) => a.model)).toEqual(["dense", "plain"]);
    for (const a of analyses) {
      expect(a.layers.map((l) => l.layer)).toEqual([0, 1, 2]);
      expect(a.layers[0]!.cosineToEmbedding).toBeCloseTo(1, 5);
      expect(a.layers[1]!.cosineToFirstLayer).toBeCloseTo(1, 5);
      expect(a.layers[0]!.probeAccuracy[0]).toBeGreaterThan(Math.max(0.5, 4 * a.majorityAccuracy[0]!)); // the embedding names its token
      expect(a.tokens).toBe(1024);
    }
    expect(await readFile(join(out, "analysis.svg"), "utf8")).toMatch(/^<svg/);
    expect(await readFile(join(out, "analysis.md"), "utf8")).toContain("### plain");
  });

  it("bad input is one line naming the problem", async () => {
    const oneLine = (r: { code: number; err: string }, pattern: RegExp) => {
      expect(r.code).toBe(1);
      expect(r.err).toMatch(pattern);
      expect(r.err.trim().split("\n")).toHaveLength(1);
    };
    oneLine(await cli("study", "--grid", "no-such-grid"), /no grid named "no-such-grid" \(shipped: .*dense-vs-plain-gau-retnet/);
    oneLine(await run("--steps", "4"), /dense-seed0 was trained with another training/);
    oneLine(await cli("analyze", "--model", join(dir, "runs", "dense-seed0"), "--label", "a", "--label", "b", "--text", join(dir, "corpus.txt")), /2 --label for 1 --model/);
    oneLine(await cli("analyze", "--model", join(dir, "runs", "dense-seed0"), "--text", join(dir, "missing.txt")), /cannot read --text .*missing.txt: no such file/);
  });
});
