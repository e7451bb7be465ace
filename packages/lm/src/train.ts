import {
  CausalLM,
  DenseSSMError,
  DeviceAdamW,
  DROPOUT_SEED_INPUT,
  getBackend,
  gradName,
  learningRateSchedule,
  Session,
  Tensor,
  type Decay,
  writeFileAtomic,
} from "@densessm/core";
import { fromPretrained as loadTokenizer, loadTokenizer as loadTokenizerFile, trainTokenizer, type Tokenizer } from "@densessm/tokenizer";
import { cleanRunFolder, readTrainingState, resolveModelDir, writeCheckpoint, type EvaluationEntry, type HistoryEntry, type TrainingState } from "./checkpoint.js";
import { BatchSampler, evaluationBatches, readCorpus, splitTokens } from "./data.js";
import { createModel, type ModelSpec } from "./model-spec.js";
import { checkSeed } from "./seed.js";
import { lossCurveSvg } from "./plot.js";
import { assertVocabularyFits } from "./pretrained.js";

export interface TrainOptions {
  /** A preset name (a registered family's; see core's `listPresets`), a config.json path, or a config object. */
  model: ModelSpec;
  /** Text files or folders of them. */
  data: readonly string[];
  /** The run folder: checkpoints, the loss curve, the final model. */
  out: string;
  /** A tokenizer file or folder; by default one is trained on the corpus. */
  tokenizer?: string;
  /** Vocabulary of the tokenizer trained on the fly (default 1024). */
  vocabSize?: number;
  /** Continue the run in `out` from its latest checkpoint. */
  resume?: boolean;
  batchSize?: number;
  seqLen?: number;
  /** Optimizer steps (default 300); `tokens` sets them from a token budget instead. */
  steps?: number;
  tokens?: number;
  lr?: number;
  warmupSteps?: number;
  schedule?: Decay;
  minLr?: number;
  weightDecay?: number;
  /** Global gradient-norm clip (0: off). */
  clip?: number;
  /** Micro-batches per optimizer step. */
  gradAccum?: number;
  seed?: number;
  backend?: string;
  /** "bf16": mixed precision (bfloat16 matrix products, f32 master weights), on backends that have it (cuda). Default "f32". */
  dtype?: "f32" | "bf16";
  /**
   * Ask the backend for the same bits on every run (see BackendOptions.deterministic): on onnx,
   * one intra-op thread, slower. The cpu backend always is. Default false.
   */
  deterministic?: boolean;
  evalEvery?: number;
  evalBatches?: number;
  checkpointEvery?: number;
  keepCheckpoints?: number;
  validationFraction?: number;
  /**
   * Stop early (with a final evaluation and checkpoint) once this run has trained this long; the
   * learning-rate schedule still follows `steps`. Not saved with the run.
   */
  timeLimitSeconds?: number;
  signal?: AbortSignal;
  onProgress?: (event: TrainEvent) => void;
}

export type TrainEvent =
  | { type: "start"; step: number; totalSteps: number; parameters: number; trainTokens: number; validationTokens: number; tokenizerSize: number; backend: string; resumed: boolean }
  | { type: "step"; step: number; totalSteps: number; loss: number; lr: number; tokensPerSecond: number; etaSeconds: number }
  | { type: "eval"; step: number; loss: number; perplexity: number }
  | { type: "checkpoint"; step: number; dir: string };

export interface TrainResult {
  runDir: string;
  checkpoint: string;
  lm: CausalLM;
  tokenizer: Tokenizer;
  session: Session;
  steps: number;
  /** True when the time limit ended the run before `steps`. */
  stoppedEarly: boolean;
  parameters: number;
  history: HistoryEntry[];
  evaluations: EvaluationEntry[];
  /** Mean token-level loss on the validation split at the end, and its perplexity. */
  validation: { loss: number; perplexity: number };
}

/** The options a run is defined by: saved with every checkpoint, reused on resume. */
function resolved(o: TrainOptions) {
  const steps = o.steps ?? (o.tokens ? Math.ceil(o.tokens / ((o.batchSize ?? 8) * (o.seqLen ?? 128) * (o.gradAccum ?? 1))) : 300);
  const r = {
    model: o.model,
    data: [...o.data],
    tokenizer: o.tokenizer,
    vocabSize: o.vocabSize ?? 1024,
    batchSize: o.batchSize ?? 8,
    seqLen: o.seqLen ?? 128,
    steps,
    lr: o.lr ?? 3e-3,
    warmupSteps: o.warmupSteps ?? Math.min(100, Math.ceil(steps * 0.05)),
    schedule: o.schedule ?? "cosine",
    minLr: o.minLr ?? (o.lr ?? 3e-3) / 10,
    weightDecay: o.weightDecay ?? 0.1,
    clip: o.clip ?? 1,
    gradAccum: o.gradAccum ?? 1,
    seed: o.seed ?? 0,
    evalEvery: o.evalEvery ?? Math.max(1, Math.ceil(steps / 10)),
    evalBatches: o.evalBatches ?? 8,
    checkpointEvery: o.checkpointEvery ?? Math.max(1, Math.ceil(steps / 5)),
    keepCheckpoints: o.keepCheckpoints ?? 2,
    validationFraction: o.validationFraction ?? 0.05,
    /** Saved so a resumed run computes on the same backend (bit-identical losses need it). */
    backend: o.backend,
    dtype: o.dtype ?? "f32",
    deterministic: o.deterministic ?? false,
  };
  const positive = ["batchSize", "seqLen", "steps", "gradAccum", "evalEvery", "evalBatches", "checkpointEvery", "keepCheckpoints", "vocabSize"] as const;
  for (const k of positive) if (!Number.isInteger(r[k]) || r[k] <= 0) throw new DenseSSMError(`train: ${k} must be a positive integer, got ${r[k]}`);
  if (!(r.lr > 0)) throw new DenseSSMError(`train: lr must be positive, got ${r.lr}`);
  checkSeed(r.seed, "train: seed");
  if (r.seqLen < 2) throw new DenseSSMError("train: seqLen must be at least 2 (the loss predicts the next token)");
  return r;
}
type RunOptions = ReturnType<typeof resolved>;

/** Mean validation loss over fixed consecutive windows (the same windows every time). */
export async function validationLoss(lm: CausalLM, session: Session, batches: readonly Tensor[]): Promise<number> {
  let total = 0;
  for (const ids of batches) {
    total += (await session.run(lm.lossGraph(ids.shape[0]!, ids.shape[1]!), { input_ids: ids, labels: ids })).loss!.item();
  }
  return total / batches.length;
}

/**
 * Trains a model on text, with resumable atomic checkpoints. Deterministic for a given seed on a
 * backend that sums in a fixed order (cpu always; onnx with `deterministic`): a run killed at any
 * point and resumed then produces the same later losses. onnx's default multi-threaded kernels
 * reorder some sums from run to run, so its runs agree only to rounding, amplified by training.
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const { join } = await import("node:path");
  const { rm } = await import("node:fs/promises");
  let run: RunOptions;
  let lm: CausalLM;
  let tokenizer: Tokenizer;
  let state: TrainingState | undefined;
  let optimizerState;

  // A named backend that cannot run here (no GPU) is reported before a tokenizer or model is built.
  if (options.backend) await getBackend(options.backend, { dtype: options.dtype, deterministic: options.deterministic });
  await cleanRunFolder(options.out);
  if (options.resume) {
    const dir = await resolveModelDir(options.out);
    ({ state, optimizer: optimizerState } = await readTrainingState(dir));
    const saved = state.options as unknown as TrainOptions;
    refuseChanges(options, saved);
    const changed = Object.fromEntries(RESUMABLE.filter((k) => options[k] !== undefined).map((k) => [k, options[k]]));
    run = resolved({ ...saved, ...changed, backend: options.backend ?? saved.backend, deterministic: options.deterministic ?? saved.deterministic });
    lm = await CausalLM.fromPretrained(dir);
    tokenizer = await loadTokenizer(dir);
  } else {
    run = resolved(options);
    const corpusForTokenizer = run.tokenizer ? undefined : (await readCorpus(run.data)).text;
    tokenizer = run.tokenizer ? await loadTokenizerFile(run.tokenizer) : trainTokenizer(corpusForTokenizer!, { vocabSize: run.vocabSize });
    lm = await createModel(run.model, tokenizer.vocabSize, run.seed);
  }
  assertVocabularyFits(lm, tokenizer.vocabSize, "train");

  const { text } = await readCorpus(run.data);
  const tokens = Int32Array.from(tokenizer.encode(text, { addSpecialTokens: false }));
  const splits = splitTokens(tokens, run.validationFraction, run.seqLen);
  const sampler = new BatchSampler(splits.train, run.batchSize, run.seqLen, run.seed);
  if (state) sampler.rng.setState(state.samplerState);
  const validation = evaluationBatches(splits.validation, run.batchSize, run.seqLen, run.evalBatches);

  const session = await Session.create(run.backend, { dtype: run.dtype, deterministic: run.deterministic });
  const params = lm.module.namedParameters();
  lm.bind(session);
  // The optimizer runs where the parameters live: each step leaves them, the gradients and the
  // moments on the backend and reads back only the loss; checkpoints read parameters and moments.
  const optimizer = new DeviceAdamW(session, params, { lr: run.lr, weightDecay: run.weightDecay, clip: run.clip });
  if (optimizerState) optimizer.loadStateDict(optimizerState);
  const schedule = learningRateSchedule({ peakLr: run.lr, warmupSteps: run.warmupSteps, totalSteps: run.steps, decay: run.schedule, minLr: run.minLr });
  const graph = lm.trainGraph(run.batchSize, run.seqLen);
  const usesDropout = graph.inputs.some((b) => b.name === DROPOUT_SEED_INPUT);
  // Parameters the loss does not reach (e.g. a dense gate of the first layer) get no gradient.
  const trained = params.filter(([name]) => graph.outputs.some((o) => o.name === gradName(name)));

  const history: HistoryEntry[] = state?.history ?? [];
  const evaluations: EvaluationEntry[] = state?.evaluations ?? [];
  let step = state?.step ?? 0;
  let tokensSeen = state?.tokensSeen ?? 0;
  let elapsed = state?.elapsedSeconds ?? 0;
  const parameters = lm.module.numParameters();
  const emit = options.onProgress ?? (() => {});
  emit({ type: "start", step, totalSteps: run.steps, parameters, trainTokens: splits.train.length, validationTokens: splits.validation.length, tokenizerSize: tokenizer.vocabSize, backend: session.backend.name, resumed: Boolean(state) });

  const snapshot = (): TrainingState => ({
    format: "densessm-training-state",
    version: 1,
    step,
    tokensSeen,
    elapsedSeconds: elapsed,
    samplerState: sampler.rng.getState(),
    options: { ...run, backend: session.backend.name },
    history,
    evaluations,
  });
  let checkpoint = "";
  const save = async () => {
    await optimizer.syncParameters();
    checkpoint = await writeCheckpoint(options.out, { lm, tokenizer, optimizer: await optimizer.stateDict(), state: snapshot(), keep: run.keepCheckpoints });
    await writeFileAtomic(join(options.out, "loss.svg"), lossCurveSvg(history, evaluations));
    emit({ type: "checkpoint", step, dir: checkpoint });
  };
  const evaluate = async () => {
    const loss = await validationLoss(lm, session, validation);
    const entry = { step, loss, perplexity: Math.exp(loss) };
    if (evaluations.at(-1)?.step !== step) evaluations.push(entry);
    await metrics({ step, validationLoss: loss, validationPerplexity: entry.perplexity });
    emit({ type: "eval", ...entry });
    return entry;
  };

  if (!state) await rm(join(options.out, "latest.json"), { force: true });
  const metrics = await metricsLog(join(options.out, METRICS), step);
  const deadline = performance.now() + (options.timeLimitSeconds ?? Infinity) * 1000;
  let stoppedEarly = false;
  while (step < run.steps) {
    if (performance.now() > deadline) {
      stoppedEarly = true;
      if (evaluations.at(-1)?.step !== step) await evaluate();
      await save();
      break;
    }
    options.signal?.throwIfAborted();
    const started = performance.now();
    let loss = 0;
    for (let micro = 0; micro < run.gradAccum; micro++) {
      const ids = sampler.next();
      const feeds: Record<string, Tensor> = { input_ids: ids, labels: ids };
      if (usesDropout) feeds[DROPOUT_SEED_INPUT] = Tensor.scalar((run.seed * 1_000_003 + step * run.gradAccum + micro) | 0, "int32");
      const out = await session.runOnDevice(graph, feeds);
      const lossOut = out.get("loss")!;
      loss += (await session.backend.download(lossOut)).item() / run.gradAccum;
      session.backend.release(lossOut);
      await optimizer.accumulate(new Map(trained.map(([name]) => [name, out.get(gradName(name))!])));
    }
    const lr = schedule(step);
    await optimizer.step(lr);
    step++;
    const seconds = (performance.now() - started) / 1000;
    elapsed += seconds;
    const batchTokens = run.batchSize * run.seqLen * run.gradAccum;
    tokensSeen += batchTokens;
    history.push({ step, loss, lr, tokensPerSecond: batchTokens / seconds });
    await metrics({ step, loss, lr, tokensPerSecond: batchTokens / seconds, tokensSeen });
    const recent = history.slice(-10);
    const secondsPerStep = recent.reduce((s, h) => s + batchTokens / h.tokensPerSecond, 0) / recent.length;
    emit({ type: "step", step, totalSteps: run.steps, loss, lr, tokensPerSecond: batchTokens / seconds, etaSeconds: secondsPerStep * (run.steps - step) });
    if (!Number.isFinite(loss)) throw new DenseSSMError(`training diverged at step ${step} (loss ${loss}): lower --lr or raise --clip`);
    if (step % run.evalEvery === 0 || step === run.steps) await evaluate();
    if (step % run.checkpointEvery === 0 || step === run.steps) await save();
  }
  const final = evaluations.at(-1)?.step === step ? evaluations.at(-1)! : await evaluate();
  if (!checkpoint) checkpoint = await resolveModelDir(options.out);
  return { runDir: options.out, checkpoint, lm, tokenizer, session, steps: step, stoppedEarly, parameters, history, evaluations, validation: { loss: final.loss, perplexity: final.perplexity } };
}

/** Every step's loss, lr and tokens/s and every validation, one JSON object per line, at full precision. */
export const METRICS = "metrics.jsonl";

/**
 * Opens the run's metrics.jsonl for appending. A fresh run starts it empty; a resumed one first
 * drops the lines after its checkpoint's step (written before the interruption, and about to be
 * recomputed), so a resumed run's file reads exactly like an uninterrupted run's.
 */
async function metricsLog(file: string, fromStep: number): Promise<(entry: Record<string, number>) => Promise<void>> {
  const { appendFile, mkdir, readFile } = await import("node:fs/promises");
  const { dirname } = await import("node:path");
  await mkdir(dirname(file), { recursive: true });
  const stepOf = (line: string): number => {
    try {
      return Number((JSON.parse(line) as { step?: unknown }).step);
    } catch {
      return NaN; // a line cut short by the interruption
    }
  };
  const kept = fromStep === 0 ? [] : (await readFile(file, "utf8").catch(() => "")).split("\n").filter((line) => stepOf(line) <= fromStep);
  await writeFileAtomic(file, kept.map((l) => `${l}\n`).join(""));
  return (entry) => appendFile(file, `${JSON.stringify(entry)}\n`);
}

/** Options a resumed run may change: how often it evaluates and saves, and how long it runs. */
const RESUMABLE = ["steps", "evalEvery", "evalBatches", "checkpointEvery", "keepCheckpoints"] as const;
/** Options a resumed run keeps: changing any would make it a different run. */
const FIXED = ["model", "data", "tokenizer", "vocabSize", "batchSize", "seqLen", "tokens", "lr", "warmupSteps", "schedule", "minLr", "weightDecay", "clip", "gradAccum", "seed", "validationFraction", "dtype"] as const;

function refuseChanges(options: TrainOptions, saved: TrainOptions): void {
  // model "" and data [] are how a resumed run says "the run's own" (both are required options).
  const given = (v: unknown) => v !== undefined && v !== "" && !(Array.isArray(v) && v.length === 0);
  const differs = FIXED.filter((k) => given(options[k]) && JSON.stringify(options[k]) !== JSON.stringify(saved[k]));
  if (differs.length === 0) return;
  const list = differs.map((k) => `${k} ${JSON.stringify(options[k])} (the run's: ${JSON.stringify(saved[k] ?? null)})`).join(", ");
  throw new DenseSSMError(`train --resume: a resumed run keeps its settings, and these differ: ${list}; drop them, or start a new run with --out`);
}
