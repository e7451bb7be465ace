import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CpuBackend } from "@densessm/backend-cpu";
import { CausalLM, Rng, Session } from "@densessm/core";
import { beforeAll, describe, expect, it } from "vitest";
import { linearProbeAccuracy, mqarBatch, pairedDifference, readGrid, std, study, studentTQuantile, trainMqar, type RunResult, type StudyGrid } from "../src/index.js";

describe("statistics", () => {
  it("Student-t quantiles match the tables", () => {
    // t(0.975, ν) and t(0.995, ν) from standard tables.
    for (const [dof, want] of [[1, 12.7062], [2, 4.3027], [4, 2.7764], [10, 2.2281], [30, 2.0423], [1000, 1.9623]] as const) expect(studentTQuantile(0.975, dof)).toBeCloseTo(want, 3);
    expect(studentTQuantile(0.995, 5)).toBeCloseTo(4.0321, 3);
    expect(() => studentTQuantile(0.3, 2)).toThrow(/0.5 < p < 1/);
  });

  it("a paired difference is the mean of per-seed differences ± t·sd/√n", () => {
    const d = pairedDifference([3.7, 3.8, 3.6], [3.75, 3.9, 3.62]);
    expect(d.differences.map((x) => +x.toFixed(6))).toEqual([-0.05, -0.1, -0.02]);
    expect(d.mean).toBeCloseTo(-0.056667, 5);
    expect(d.halfWidth).toBeCloseTo((4.302653 * std([-0.05, -0.1, -0.02])) / Math.sqrt(3), 5);
    expect(pairedDifference([1], [2]).halfWidth).toBe(Infinity);
    expect(() => pairedDifference([1, 2], [1])).toThrow(/equally many/);
  });
});

describe("linear probe", () => {
  const rng = new Rng(1);
  const data = (n: number, dim: number, signal: number) => {
    const labels = Int32Array.from({ length: n }, () => rng.int(20));
    const features = new Float32Array(n * dim);
    for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) features[i * dim + j] = (j === labels[i]! ? signal : 0) + rng.normal() * 0.3;
    return { labels, features };
  };
  it("reads the token from a state that holds it, and not from noise", () => {
    expect(linearProbeAccuracy(data(600, 24, 2), data(400, 24, 2), 24)).toBeGreaterThan(0.97);
    expect(linearProbeAccuracy(data(600, 24, 0), data(400, 24, 0), 24)).toBeLessThan(0.12); // chance is 0.05
  });
});

describe("MQAR", () => {
  const options = { vocabSize: 64, powerA: 0.01, randomNonQueries: false };
  it("draws Zoology's sequences: N distinct pairs, each key queried once, the value as the target", () => {
    const { inputIds, labels } = mqarBatch(new Rng(3), 16, { seqLen: 32, kvPairs: 6 }, options);
    expect(inputIds.shape).toEqual([16, 32]);
    for (let b = 0; b < 16; b++) {
      const row = Array.from(inputIds.data.subarray(b * 32, (b + 1) * 32));
      const lab = Array.from(labels.data.subarray(b * 32, (b + 1) * 32));
      const keys = row.filter((_, i) => i < 12 && i % 2 === 0);
      const values = row.filter((_, i) => i < 12 && i % 2 === 1);
      expect(new Set(keys).size).toBe(6);
      expect(keys.every((k) => k >= 1 && k < 32) && values.every((v) => v >= 32 && v < 64)).toBe(true);
      const targets = lab.flatMap((v, t) => (v === -100 ? [] : [[t, v]]));
      expect(targets).toHaveLength(6);
      for (const [t, v] of targets) {
        const key = row[t! - 1]!; // the target sits right after its queried key (the loss shifts by one)
        expect(t! - 1).toBeGreaterThanOrEqual(12);
        expect((t! - 1 - 12) % 2).toBe(0);
        expect(v).toBe(values[keys.indexOf(key)]);
      }
      expect(row.slice(12).filter((x) => x !== 0).sort()).toEqual([...keys].sort()); // queries only; the rest is 0 here
    }
    const random = mqarBatch(new Rng(3), 4, { seqLen: 32, kvPairs: 6 }, { ...options, randomNonQueries: true });
    expect(Array.from(random.inputIds.data).filter((x) => x === 0).length).toBeLessThan(8);
  });

  it("rejects shapes Zoology's generator cannot fill", () => {
    expect(() => mqarBatch(new Rng(1), 1, { seqLen: 16, kvPairs: 5 }, options)).toThrow(/need seqLen ≥ 20/);
    expect(() => mqarBatch(new Rng(1), 1, { seqLen: 80, kvPairs: 4 }, options)).toThrow(/vocabSize 64 must exceed seqLen 80/);
  });

  it("trains and scores every queried key of every test shape, reproducibly", async () => {
    const config = { model_type: "llama", hidden_size: 32, query_key_dim: 16, num_attention_heads: 2, num_hidden_layers: 2, vocab_size: 64, v_factor: 1, dense_block_layers: 1 };
    const mqar = { vocabSize: 64, steps: 4, batchSize: 8, testExamples: 10, train: [{ seqLen: 32, kvPairs: 4 }], test: [{ seqLen: 32, kvPairs: 4 }, { seqLen: 48, kvPairs: 8 }] };
    const run = () => trainMqar(CausalLM.fromConfig(config, { seed: 1 }), new Session(new CpuBackend()), { ...mqar, seed: 2 });
    const a = await run();
    expect(a.accuracy.map((c) => c.queries)).toEqual([40, 80]);
    for (const c of a.accuracy) {
      expect(c.accuracy).toBeGreaterThanOrEqual(0);
      expect(c.accuracy).toBeLessThanOrEqual(1);
    }
    expect(a.meanAccuracy).toBeCloseTo((a.accuracy[0]!.accuracy + a.accuracy[1]!.accuracy) / 2, 10);
    const b = await run();
    expect(b.accuracy).toEqual(a.accuracy);
    expect(b.finalTrainLoss).toBe(a.finalTrainLoss);
  });
});

describe("study", () => {
  let dir = "";
  const tiny = (extra: Record<string, unknown>) => ({ model_type: "llama", hidden_size: 32, query_key_dim: 16, num_attention_heads: 2, num_hidden_layers: 2, vocab_size: 0, v_factor: 2, ...extra });
  const grid: StudyGrid = {
    name: "tiny",
    seeds: [0, 1],
    training: { steps: 4, batchSize: 2, seqLen: 16, evalEvery: 2, evalBatches: 2, checkpointEvery: 1, vocabSize: 330 },
    configurations: [
      { name: "dense", model: tiny({ dense_block_layers: 1 }), baseline: "plain" },
      { name: "plain", model: tiny({ dense_block_layers: 0, dense_gate: false, dense_norm: false }) },
    ],
  };
  const data = () => [join(dir, "corpus.txt")];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "densessm-study-"));
    const text = "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer the slings and arrows of outrageous fortune, or to take arms against a sea of troubles. ";
    await writeFile(join(dir, "corpus.txt"), text.repeat(40));
  });

  it("reports each configuration's runs, paired with its baseline by seed", async () => {
    const report = await study({ grid, data: data(), runs: join(dir, "runs"), out: join(dir, "out"), backend: "cpu" });
    const results = async (name: string) => Promise.all([0, 1].map(async (s) => JSON.parse(await readFile(join(dir, "runs", `${name}-seed${s}`, "result.json"), "utf8")) as RunResult));
    const [dense, plain] = [await results("dense"), await results("plain")];
    const row = report.rows.find((r) => r.name === "dense")!;
    expect(row.perSeed).toEqual(dense.map((r) => r.finalLoss));
    expect(row.difference!.differences).toEqual(dense.map((r, i) => r.finalLoss! - plain[i]!.finalLoss!));
    expect(row.parameters).toBe(dense[0]!.parameters);
    expect(row.sizeDifference).toBeCloseTo(dense[0]!.parameters / plain[0]!.parameters - 1, 12);
    expect(dense[0]!.tokens).toBe(4 * 2 * 16);
    const table = await readFile(report.files.table, "utf8");
    expect(table).toContain(`| dense | ${row.parameters.toLocaleString("en")} | plain (`);
    expect(table).toMatch(/Machine: .* cores/);
    expect(await readFile(report.files.plot, "utf8")).toMatch(/^<svg/);
  });

  it("asks every run's backend for determinism with `deterministic`, and says so in the report", async () => {
    const runs = join(dir, "runs-deterministic");
    const report = await study({ grid, data: data(), runs, out: join(dir, "out-deterministic"), backend: "cpu", deterministic: true, seeds: [0] });
    const latest = JSON.parse(await readFile(join(runs, "dense-seed0", "latest.json"), "utf8")) as { checkpoint: string };
    const state = JSON.parse(await readFile(join(runs, "dense-seed0", latest.checkpoint, "training_state.json"), "utf8")) as { options: { deterministic?: boolean } };
    expect(state.options.deterministic).toBe(true);
    expect(await readFile(report.files.table, "utf8")).toMatch(/backend cpu \(deterministic\)/);
  });

  it("a stopped study resumes to the same numbers, and finished runs are never trained again", async () => {
    const runs = join(dir, "runs-stopped");
    const controller = new AbortController();
    let steps = 0;
    await expect(
      study({ grid, data: data(), runs, out: join(dir, "out-stopped"), backend: "cpu", signal: controller.signal, onProgress: (e) => e.type === "train" && e.event.type === "step" && ++steps === 7 && controller.abort() }),
    ).rejects.toThrow();
    expect(JSON.parse(await readFile(join(runs, "tiny.status.json"), "utf8"))).toMatchObject({ state: "stopped", finished: 1 });
    let trained = 0;
    const resumed = await study({ grid, data: data(), runs, out: join(dir, "out-stopped"), backend: "cpu", onProgress: (e) => e.type === "run" && trained++ });
    expect(trained).toBe(3); // the run stopped mid-way resumes from its checkpoint; the finished one is reused
    const uninterrupted = JSON.parse(await readFile(join(dir, "out", "study.json"), "utf8")) as { rows: { perSeed: number[] }[] };
    expect(resumed.rows.map((r) => r.perSeed)).toEqual(uninterrupted.rows.map((r) => r.perSeed));
    expect(JSON.parse(await readFile(join(runs, "tiny.status.json"), "utf8"))).toMatchObject({ state: "finished", finished: 4, total: 4 });
  });

  it("refuses a run trained otherwise, and sizes that differ by more than the limit", async () => {
    await expect(study({ grid: { ...grid, training: { ...grid.training, steps: 5 } }, data: data(), runs: join(dir, "runs"), out: join(dir, "o2"), backend: "cpu" })).rejects.toThrow(/dense-seed0 was trained with another training/);
    const big = { ...grid, configurations: [grid.configurations[0]!, { ...grid.configurations[1]!, model: tiny({ hidden_size: 48, dense_block_layers: 0 }) }] };
    await expect(study({ grid: big, data: data(), runs: join(dir, "runs-big"), out: join(dir, "o3"), backend: "cpu" })).rejects.toThrow(/differ by at most 2.0 % in parameters: dense has .* its baseline plain/);
  });

  it("reports from finished seeds only, and reads grid files with paths relative to them", async () => {
    const runs = join(dir, "runs");
    await rm(join(runs, "plain-seed1", "result.json"));
    const partial = await study({ grid, data: data(), runs, out: join(dir, "o4"), reportOnly: true });
    expect(partial.seeds).toEqual([0]);
    await writeFile(join(dir, "model.json"), JSON.stringify(tiny({ dense_block_layers: 1 })));
    await writeFile(join(dir, "grid.json"), JSON.stringify({ name: "file", configurations: [{ name: "a", model: "model.json" }, { name: "b", model: "dense-retnet-tiny", baseline: "a" }] }));
    expect((await readGrid(join(dir, "grid.json"))).configurations.map((c) => c.model)).toEqual([join(dir, "model.json"), "dense-retnet-tiny"]);
    await writeFile(join(dir, "bad.json"), JSON.stringify({ name: "bad", configurations: [{ name: "a", model: "x.json", baseline: "zz" }] }));
    await expect(readGrid(join(dir, "bad.json"))).rejects.toThrow(/bad.json: configuration "a": baseline "zz" is not a configuration of this grid/);
  });
});
