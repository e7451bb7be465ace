import { CausalLM, DenseSSMError, Session, writeFileAtomic } from "@densessm/core";
import { loadTokenizer, saveTokenizer, trainTokenizer } from "@densessm/tokenizer";
import { LATEST, readTrainingState, type EvaluationEntry } from "../checkpoint.js";
import { readCorpus } from "../data.js";
import { configFor } from "../model-spec.js";
import { train, type TrainEvent } from "../train.js";
import { checkGrid, readGrid, type StudyGrid, type StudyTraining } from "./grid.js";
import { resolveMqarOptions, trainMqar, type MqarAccuracy, type MqarOptions, type MqarTrainEvent } from "./mqar.js";
import { writeStudyReport, type StudyReport } from "./report.js";

export interface StudyOptions {
  /** A grid, or the path of a grid file. */
  grid: StudyGrid | string;
  /** Text files or folders (language-modeling grids). */
  data?: readonly string[];
  /**
   * The folder of the runs (`<configuration>-seed<k>/`), the shared tokenizer and the status file.
   * Grids may share it: a run already trained with the same model, options and seed is reused.
   */
  runs: string;
  /** Where the table (study.md), the plot (study.svg) and the data (study.json) go. */
  out: string;
  /** Override the grid's seeds. */
  seeds?: readonly number[];
  /** Override the grid's training options (language modeling). */
  training?: StudyTraining;
  /** Override the grid's MQAR options. */
  mqar?: MqarOptions;
  /** A tokenizer for every run instead of one trained on the data. */
  tokenizer?: string;
  backend?: string;
  /** Ask the backend for the same bits on every run (onnx: one thread; see BackendOptions.deterministic). */
  deterministic?: boolean;
  /** Train nothing: report the seeds every configuration has finished. */
  reportOnly?: boolean;
  /** The command line that ran the study, for the report. */
  command?: string;
  signal?: AbortSignal;
  onProgress?: (event: StudyEvent) => void;
}

export type StudyEvent =
  | { type: "plan"; grid: string; runs: number; finished: number; parameters: Record<string, number> }
  | { type: "run"; configuration: string; seed: number; index: number; total: number; resumed: boolean }
  | { type: "train"; configuration: string; seed: number; event: TrainEvent | MqarTrainEvent }
  | { type: "finished"; configuration: string; seed: number; index: number; total: number; result: RunResult; etaSeconds: number }
  | { type: "report"; files: StudyReport["files"]; seeds: number[] };

/** What one finished run contributes to the study (its `result.json`). */
export interface RunResult {
  parameters: number;
  seconds: number;
  /** Language modeling: the final validation loss and the validation curve. */
  finalLoss?: number;
  evaluations?: EvaluationEntry[];
  tokens?: number;
  /** MQAR: accuracy per test shape, their mean and the final training loss. */
  accuracy?: MqarAccuracy[];
  meanAccuracy?: number;
  finalTrainLoss?: number;
}

/** A grid's progress, kept in `<runs>/<grid>.status.json` while it runs (what `study --status` shows). */
export interface StudyStatus {
  grid: string;
  pid: number;
  state: "running" | "finished" | "stopped" | "failed";
  updatedAt: string;
  total: number;
  finished: number;
  current?: { configuration: string; seed: number; step: number; totalSteps: number };
  etaSeconds?: number;
  error?: string;
}

const RESULT = "result.json";
const SPEC = "study-run.json";

/**
 * Runs a grid of configurations × seeds and writes one report: a table of every configuration (its
 * parameter count, the mean ± std of its final metric over seeds, and the paired difference to its
 * baseline with a confidence interval over seeds) and a plot. Runs go seed by seed, so a study
 * stopped early still holds complete pairs; every run resumes from its last checkpoint, and
 * finished runs are never trained again.
 */
export async function study(options: StudyOptions): Promise<StudyReport> {
  const { join, resolve } = await import("node:path");
  const { mkdir, readFile, access } = await import("node:fs/promises");
  const exists = (p: string) => access(p).then(() => true, () => false);
  const grid = typeof options.grid === "string" ? await readGrid(options.grid) : checkGrid(options.grid);
  const task = grid.task ?? "language-modeling";
  const seeds = [...(options.seeds ?? grid.seeds ?? [0, 1, 2])];
  const training: StudyTraining = { ...grid.training, ...options.training };
  const mqar = resolveMqarOptions({ ...grid.mqar, ...options.mqar });
  await mkdir(options.runs, { recursive: true });

  // One tokenizer for every language-modeling run, trained once per runs folder.
  let vocabSize = mqar.vocabSize;
  let tokenizerDir: string | undefined;
  const data = (options.data ?? []).map((p) => resolve(p));
  if (task === "language-modeling") {
    if (data.length === 0) throw new DenseSSMError(`study ${grid.name}: a language-modeling grid needs data (text files or folders)`);
    tokenizerDir = options.tokenizer ?? join(options.runs, "tokenizer");
    if (!options.tokenizer && !(await exists(join(tokenizerDir, "tokenizer.json")))) {
      await saveTokenizer(trainTokenizer((await readCorpus(data)).text, { vocabSize: training.vocabSize ?? 1024 }), tokenizerDir);
    }
    vocabSize = (await loadTokenizer(tokenizerDir)).vocabSize;
  }

  const configurations = await Promise.all(
    grid.configurations.map(async (c) => {
      const config = await configFor(c.model, vocabSize);
      return { ...c, config, parameters: CausalLM.fromConfig(config).numParameters() };
    }),
  );
  const byName = new Map(configurations.map((c) => [c.name, c]));
  const limit = grid.maxSizeMismatch ?? 0.02;
  const mismatched = configurations.flatMap((c) => {
    const base = c.baseline ? byName.get(c.baseline)! : undefined;
    const gap = base ? Math.abs(c.parameters / base.parameters - 1) : 0;
    return gap > limit ? [`${c.name} has ${c.parameters.toLocaleString("en")} parameters, its baseline ${base!.name} ${base!.parameters.toLocaleString("en")} (${(gap * 100).toFixed(1)} %)`] : [];
  });
  if (mismatched.length) throw new DenseSSMError(`study ${grid.name}: compared configurations must differ by at most ${(limit * 100).toFixed(1)} % in parameters: ${mismatched.join("; ")}`);

  const plan = seeds.flatMap((seed) => configurations.map((c) => ({ c, seed, dir: join(options.runs, `${c.name}-seed${seed}`) })));
  const results = new Map<string, RunResult>();
  const key = (name: string, seed: number) => `${name}@${seed}`;
  const readResult = async (dir: string) => JSON.parse(await readFile(join(dir, RESULT), "utf8")) as RunResult;
  const specOf = (c: (typeof configurations)[number], seed: number) => (task === "language-modeling" ? { task, model: c.config, training, data, tokenizer: tokenizerDir && resolve(tokenizerDir), seed } : { task, model: c.config, mqar, seed });
  for (const { c, seed, dir } of plan) {
    if (!(await exists(join(dir, RESULT)))) continue;
    await checkRunSpec(dir, specOf(c, seed)); // a finished run counts only if it is this run
    results.set(key(c.name, seed), await readResult(dir));
  }
  options.onProgress?.({ type: "plan", grid: grid.name, runs: plan.length, finished: results.size, parameters: Object.fromEntries(configurations.map((c) => [c.name, c.parameters])) });

  const statusFile = join(options.runs, `${grid.name}.status.json`);
  let status: StudyStatus = { grid: grid.name, pid: process.pid, state: "running", updatedAt: new Date().toISOString(), total: plan.length, finished: results.size };
  let lastWrite = 0;
  const writeStatus = async (update: Partial<StudyStatus>, force = true) => {
    status = { ...status, ...update, updatedAt: new Date().toISOString() };
    if (!force && performance.now() - lastWrite < 15_000) return;
    lastWrite = performance.now();
    await writeFileAtomic(statusFile, JSON.stringify(status, null, 1));
  };

  const runSeconds: number[] = [];
  const meanRunSeconds = () => (runSeconds.length ? runSeconds.reduce((x, y) => x + y, 0) / runSeconds.length : undefined);
  type Configuration = (typeof configurations)[number];
  type OnTrain = (event: TrainEvent | MqarTrainEvent) => void;

  const trainLanguageModel = async (c: Configuration, seed: number, dir: string, resume: boolean, onTrain: OnTrain): Promise<RunResult> => {
    const r = await train({ ...training, model: c.config, data, tokenizer: tokenizerDir, seed, out: dir, resume, backend: options.backend, deterministic: options.deterministic, keepCheckpoints: 1, signal: options.signal, onProgress: onTrain });
    r.session.dispose();
    const { state } = await readTrainingState(r.checkpoint);
    return { parameters: c.parameters, seconds: state.elapsedSeconds, finalLoss: r.validation.loss, evaluations: r.evaluations, tokens: state.tokensSeen };
  };
  const trainRecall = async (c: Configuration, seed: number, onTrain: OnTrain): Promise<RunResult> => {
    const session = await Session.create(options.backend, { deterministic: options.deterministic });
    try {
      const r = await trainMqar(CausalLM.fromConfig(c.config, { seed }), session, { ...mqar, seed, signal: options.signal, onProgress: onTrain });
      return { parameters: c.parameters, seconds: r.seconds, accuracy: r.accuracy, meanAccuracy: r.meanAccuracy, finalTrainLoss: r.finalTrainLoss };
    } finally {
      session.dispose();
    }
  };

  try {
    if (!options.reportOnly) await writeStatus({});
    for (const [index, { c, seed, dir }] of plan.entries()) {
      if (options.reportOnly || results.has(key(c.name, seed))) continue;
      await checkRunSpec(dir, specOf(c, seed));
      const resumed = task === "language-modeling" && (await exists(join(dir, LATEST)));
      options.onProgress?.({ type: "run", configuration: c.name, seed, index, total: plan.length, resumed });
      await writeStatus({ current: { configuration: c.name, seed, step: 0, totalSteps: 0 } });
      const onTrain: OnTrain = (event) => {
        options.onProgress?.({ type: "train", configuration: c.name, seed, event });
        if (event.type !== "step") return;
        const perRun = meanRunSeconds();
        const others = plan.length - results.size - 1;
        void writeStatus({ current: { configuration: c.name, seed, step: event.step, totalSteps: event.totalSteps }, etaSeconds: perRun === undefined ? undefined : event.etaSeconds + others * perRun }, false);
      };
      const result = task === "language-modeling" ? await trainLanguageModel(c, seed, dir, resumed, onTrain) : await trainRecall(c, seed, onTrain);
      await writeFileAtomic(join(dir, RESULT), JSON.stringify(result, null, 1));
      results.set(key(c.name, seed), result);
      runSeconds.push(result.seconds);
      const etaSeconds = (plan.length - results.size) * meanRunSeconds()!;
      options.onProgress?.({ type: "finished", configuration: c.name, seed, index, total: plan.length, result, etaSeconds });
      await writeStatus({ finished: results.size, current: undefined, etaSeconds });
    }

    // Only seeds every configuration finished enter the report, so every difference is paired.
    const complete = seeds.filter((s) => configurations.every((c) => results.has(key(c.name, s))));
    if (complete.length === 0) throw new DenseSSMError(`study ${grid.name}: no seed has finished for every configuration yet (${results.size} of ${plan.length} runs done)`);
    const report = await writeStudyReport({
      grid,
      task,
      seeds: complete,
      configurations: configurations.map((c) => ({ name: c.name, description: c.description, baseline: c.baseline, model: c.model, config: c.config, parameters: c.parameters, runs: complete.map((s) => results.get(key(c.name, s))!) })),
      training,
      mqar,
      data,
      vocabSize,
      backend: options.backend,
      deterministic: options.deterministic ?? false,
      command: options.command,
      out: options.out,
    });
    options.onProgress?.({ type: "report", files: report.files, seeds: complete });
    if (!options.reportOnly) await writeStatus({ state: complete.length === seeds.length ? "finished" : "running" });
    return report;
  } catch (e) {
    if (!options.reportOnly) await writeStatus(options.signal?.aborted ? { state: "stopped", current: undefined } : { state: "failed", error: (e as Error).message }).catch(() => {});
    throw e;
  }
}

/** Writes a run's definition into its folder, or checks that an existing run was defined the same way. */
async function checkRunSpec(dir: string, spec: Record<string, unknown>): Promise<void> {
  const { join } = await import("node:path");
  const { mkdir, readFile } = await import("node:fs/promises");
  const file = join(dir, SPEC);
  let saved: Record<string, unknown> | undefined;
  try {
    saved = JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw new DenseSSMError(`${file} is corrupt: ${(e as Error).message}`);
  }
  if (saved) {
    const differs = Object.keys({ ...saved, ...spec }).filter((k) => canonical(saved[k]) !== canonical(spec[k]));
    if (differs.length) throw new DenseSSMError(`${dir} was trained with another ${differs.join(", ")}: use another runs folder, or delete that run to train it again`);
    return;
  }
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(file, JSON.stringify(spec, null, 1));
}

/** JSON with sorted keys, so equal definitions compare equal whatever their key order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_, v: unknown) => (v && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v));
}
