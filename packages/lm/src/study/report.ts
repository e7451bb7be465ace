import { writeFileAtomic } from "@densessm/core";
import type { ModelSpec } from "../model-spec.js";
import { lineChartSvg, panelsSvg } from "../plot.js";
import type { StudyGrid, StudyTraining } from "./grid.js";
import type { ResolvedMqarOptions } from "./mqar.js";
import { mean, pairedDifference, std, type PairedDifference } from "./stats.js";
import type { RunResult } from "./study.js";

export interface StudyReportInput {
  grid: StudyGrid;
  task: "language-modeling" | "mqar";
  /** The seeds every configuration finished, in order. */
  seeds: number[];
  configurations: { name: string; description?: string; baseline?: string; model: ModelSpec; config: Record<string, unknown>; parameters: number; runs: RunResult[] }[];
  training: StudyTraining;
  mqar: ResolvedMqarOptions;
  data: string[];
  vocabSize: number;
  backend?: string;
  deterministic: boolean;
  command?: string;
  out: string;
}

/** One configuration's line of the table. */
export interface StudyRow {
  name: string;
  parameters: number;
  /** The final metric per seed: validation loss (language modeling) or mean accuracy (MQAR). */
  perSeed: number[];
  mean: number;
  std: number;
  baseline?: string;
  /** parameters / baseline's − 1. */
  sizeDifference?: number;
  /** This configuration's metric minus its baseline's, paired by seed, with a 95 % interval. */
  difference?: PairedDifference;
}

export interface StudyReport {
  rows: StudyRow[];
  seeds: number[];
  files: { table: string; plot: string; json: string };
}

const signed = (x: number, digits: number) => `${x < 0 ? "−" : "+"}${Math.abs(x).toFixed(digits)}`;

/** Writes study.md (table), study.svg (curves) and study.json (everything, per seed) into `out`. */
export async function writeStudyReport(input: StudyReportInput): Promise<StudyReport> {
  const { join, relative } = await import("node:path");
  const { mkdir } = await import("node:fs/promises");
  const os = await import("node:os");
  const lm = input.task === "language-modeling";
  const metric = (r: RunResult) => (lm ? r.finalLoss! : r.meanAccuracy!);
  const rows: StudyRow[] = input.configurations.map((c) => {
    const perSeed = c.runs.map(metric);
    return { name: c.name, parameters: c.parameters, perSeed, mean: mean(perSeed), std: std(perSeed), baseline: c.baseline };
  });
  const byName = new Map(rows.map((r) => [r.name, r]));
  for (const row of rows) {
    const base = row.baseline ? byName.get(row.baseline) : undefined;
    if (!base) continue;
    row.sizeDifference = row.parameters / base.parameters - 1;
    row.difference = pairedDifference(row.perSeed, base.perSeed);
  }

  const n = input.seeds.length;
  const digits = lm ? 4 : 3;
  const interval = (d: PairedDifference) => (Number.isFinite(d.halfWidth) ? `${signed(d.mean, digits)} [${signed(d.low, digits)}, ${signed(d.high, digits)}]` : `${signed(d.mean, digits)} (one seed: no interval)`);
  const modelName = (m: ModelSpec) => (typeof m === "string" ? (m.includes("/") ? relative(process.cwd(), m) : m) : "(config object)");
  const cpus = os.cpus();
  const machine = `${cpus[0]?.model.trim() ?? "unknown CPU"} × ${cpus.length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.arch()}`;
  const date = new Date().toISOString().slice(0, 10);

  const header = [
    `# ${input.grid.name}`,
    "",
    ...(input.grid.description ? [input.grid.description, ""] : []),
    ...(input.command ? ["```sh", input.command, "```", ""] : []),
    `Machine: ${machine}; backend ${input.backend ?? "best available"}${input.deterministic ? " (deterministic)" : ""}. Date: ${date}.`,
    "",
    lm ? lmSetup(input, n) : mqarSetup(input.mqar, n),
    "",
  ];
  const metricName = lm ? "validation loss" : "MQAR accuracy (mean over test shapes)";
  const table = [
    `| configuration | parameters | baseline (size difference) | ${metricName}, mean ± std | ${lm ? "perplexity | " : ""}difference to baseline, paired, 95 % CI | per seed |`,
    `| --- | ---: | --- | ---: | ${lm ? "---: | " : ""}---: | --- |`,
    ...rows.map((r) =>
      [
        "",
        r.name,
        r.parameters.toLocaleString("en"),
        r.baseline ? `${r.baseline} (${signed(r.sizeDifference! * 100, 1)} %)` : "—",
        `${r.mean.toFixed(digits)} ± ${r.std.toFixed(digits)}`,
        ...(lm ? [Math.exp(r.mean).toFixed(2)] : []),
        r.difference ? interval(r.difference) : "—",
        r.perSeed.map((x) => x.toFixed(digits)).join(", "),
        "",
      ].join(" | ").trim(),
    ),
  ];
  const reading = lm
    ? "Differences are this configuration's loss minus its baseline's on the same seeds (same initialisation seed, same batches): negative means lower loss than the baseline. An interval that contains 0 is no evidence of a difference at this scale."
    : "Differences are this configuration's accuracy minus its baseline's on the same seeds (same initialisation seed, same training and test sequences): positive means better recall than the baseline. An interval that contains 0 is no evidence of a difference at this scale.";
  const shapes = lm ? [] : mqarShapeTable(input);
  const legend = ["", "| configuration | model | what it is |", "| --- | --- | --- |", ...input.configurations.map((c) => `| ${c.name} | \`${modelName(c.model)}\` | ${c.description ?? ""} |`)];

  await mkdir(input.out, { recursive: true });
  const files = { table: join(input.out, "study.md"), plot: join(input.out, "study.svg"), json: join(input.out, "study.json") };
  await writeFileAtomic(files.table, [...header, ...table, "", reading, ...shapes, ...legend, ""].join("\n"));
  await writeFileAtomic(files.plot, lm ? lossCurves(input, n) : accuracyPanels(input, n));
  const json = {
    grid: input.grid.name,
    description: input.grid.description,
    task: input.task,
    command: input.command,
    machine,
    backend: input.backend,
    deterministic: input.deterministic,
    date,
    seeds: input.seeds,
    training: lm ? input.training : undefined,
    mqar: lm ? undefined : input.mqar,
    data: input.data.map((d) => relative(process.cwd(), d)),
    vocabSize: input.vocabSize,
    rows,
    configurations: input.configurations.map((c) => ({ name: c.name, model: modelName(c.model), config: c.config, runs: Object.fromEntries(c.runs.map((r, i) => [input.seeds[i]!, r])) })),
  };
  await writeFileAtomic(files.json, JSON.stringify(json, null, 1));
  return { rows, seeds: input.seeds, files };
}

function lmSetup(input: StudyReportInput, n: number): string {
  const t = input.configurations[0]!.runs[0]!;
  const data = input.data.map((d) => d.split("/").pop()).join(", ");
  return `Task: language modeling on ${data} with one ${input.vocabSize}-token BPE tokenizer for every run; ${(t.tokens ?? 0).toLocaleString("en")} training tokens per run (${JSON.stringify(input.training)}); ${n} seed${n === 1 ? "" : "s"} (${input.seeds.join(", ")}): on a seed, every configuration starts from the same initialisation seed and sees the same batches in the same order. The metric is the final validation loss (nats/token) on the held-out tail of the data.`;
}

function mqarSetup(o: ResolvedMqarOptions, n: number): string {
  const cells = (cs: readonly { seqLen: number; kvPairs: number }[]) => cs.map((c) => `L ${c.seqLen}/N ${c.kvPairs}`).join(", ");
  return `Task: multi-query associative recall (Zoology's MQAR, generated on the fly): vocabulary ${o.vocabSize}, trained ${o.steps} steps × ${o.batchSize} sequences on ${cells(o.train)} (in turn), lr ${o.lr}; accuracy on ${o.testExamples} fresh sequences of each of ${cells(o.test)}; ${n} seed${n === 1 ? "" : "s"}: on a seed, every configuration starts from the same initialisation seed and sees the same sequences.`;
}

function mqarShapeTable(input: StudyReportInput): string[] {
  const shapes = input.mqar.test;
  return [
    "",
    "Accuracy per test shape (sequence length L, key-value pairs N), mean ± std over seeds:",
    "",
    `| configuration | ${shapes.map((s) => `L ${s.seqLen}, N ${s.kvPairs}`).join(" | ")} |`,
    `| --- | ${shapes.map(() => "---:").join(" | ")} |`,
    ...input.configurations.map((c) => `| ${c.name} | ${shapes.map((_, i) => {
      const xs = c.runs.map((r) => r.accuracy![i]!.accuracy);
      return `${mean(xs).toFixed(3)} ± ${std(xs).toFixed(3)}`;
    }).join(" | ")} |`),
  ];
}

function lossCurves(input: StudyReportInput, n: number): string {
  const series = input.configurations.map((c) => {
    const first = c.runs[0]!;
    const tokensPerStep = (first.tokens ?? 0) / (first.evaluations!.at(-1)?.step ?? 1);
    const points = first.evaluations!.map((e, i) => [e.step * tokensPerStep, mean(c.runs.map((r) => r.evaluations![i]?.loss ?? NaN))] as [number, number]);
    return { name: `${c.name} (${(c.parameters / 1e6).toFixed(3)}M)`, points };
  });
  return lineChartSvg(series, { title: `Validation loss, mean of ${n} seed${n === 1 ? "" : "s"}`, x: "training tokens", y: "cross-entropy (nats/token)" });
}

function accuracyPanels(input: StudyReportInput, n: number): string {
  const lengths = [...new Set(input.mqar.test.map((s) => s.seqLen))];
  return panelsSvg(
    lengths.map((len) =>
      lineChartSvg(
        input.configurations.map((c) => ({
          name: c.name,
          points: input.mqar.test.flatMap((s, i) => (s.seqLen === len ? [[s.kvPairs, mean(c.runs.map((r) => r.accuracy![i]!.accuracy))] as [number, number]] : [])),
        })),
        { title: `MQAR accuracy, L = ${len} (mean of ${n} seeds)`, x: "key-value pairs N", y: "accuracy" },
      ),
    ),
  );
}
