import type { Tensor} from "@densessm/core";
import { DenseSSMError, FormatError, readSafetensors, writeFileAtomic, writeSafetensors, type AdamWState, type CausalLM } from "@densessm/core";
import { saveTokenizer, type Tokenizer } from "@densessm/tokenizer";

// A training run's folder:
//   latest.json          {"step": N, "checkpoint": "step-00000N"} — replaced atomically, last
//   step-00000N/         a complete Hugging Face style model folder plus the training state:
//                        config.json, model.safetensors, tokenizer.json (+ config files),
//                        optimizer.safetensors, training_state.json
//   loss.svg             the loss curve so far
// Each step folder is written under a temporary name and renamed into place, and only then does
// latest.json move to it, so a run killed at any moment resumes from its last complete checkpoint.

export const LATEST = "latest.json";
export const TRAINING_STATE = "training_state.json";
const OPTIMIZER = "optimizer.safetensors";

export interface HistoryEntry {
  step: number;
  loss: number;
  lr: number;
  tokensPerSecond: number;
}

export interface EvaluationEntry {
  step: number;
  loss: number;
  perplexity: number;
}

/** Everything besides weights that a resumed run needs to continue exactly. */
export interface TrainingState {
  format: "densessm-training-state";
  version: 1;
  step: number;
  tokensSeen: number;
  elapsedSeconds: number;
  samplerState: number[];
  /** The options the run was started with (resumed runs must use the same ones). */
  options: Record<string, unknown>;
  history: HistoryEntry[];
  evaluations: EvaluationEntry[];
}

const stepFolder = (step: number) => `step-${String(step).padStart(6, "0")}`;

export async function writeCheckpoint(runDir: string, parts: { lm: CausalLM; tokenizer: Tokenizer; optimizer: AdamWState; state: TrainingState; keep: number }): Promise<string> {
  const { mkdir, rename, rm, readdir } = await import("node:fs/promises");
  const { join } = await import("node:path");
  await mkdir(runDir, { recursive: true });
  const name = stepFolder(parts.state.step);
  const tmp = join(runDir, `${name}.tmp-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await parts.lm.save(tmp);
  await saveTokenizer(parts.tokenizer, tmp);
  const moments: [string, Tensor][] = [];
  for (const [param, { m, v }] of parts.optimizer.moments) moments.push([`exp_avg.${param}`, m], [`exp_avg_sq.${param}`, v]);
  await writeSafetensors(join(tmp, OPTIMIZER), moments, { step: String(parts.optimizer.step) });
  await writeFileAtomic(join(tmp, TRAINING_STATE), JSON.stringify(parts.state, null, 1));
  const final = join(runDir, name);
  await rm(final, { recursive: true, force: true }); // a re-run of a step that never became latest
  await rename(tmp, final);
  await writeFileAtomic(join(runDir, LATEST), JSON.stringify({ step: parts.state.step, checkpoint: name }));
  const old = (await readdir(runDir)).filter((f) => /^step-\d+$/.test(f) && f !== name).sort();
  for (const f of old.slice(0, Math.max(0, old.length - (parts.keep - 1)))) await rm(join(runDir, f), { recursive: true, force: true });
  return final;
}

/** The step folder latest.json names (undefined when there is no latest.json); corrupt is an error naming it. */
async function latestCheckpoint(runDir: string): Promise<string | undefined> {
  const { readFile } = await import("node:fs/promises");
  const { join } = await import("node:path");
  const file = join(runDir, LATEST);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new FormatError(`${file}: cannot read (${(e as Error).message})`);
  }
  let pointer: unknown;
  try {
    pointer = JSON.parse(text);
  } catch (e) {
    throw new FormatError(`${file} is corrupt: ${(e as Error).message}`);
  }
  const checkpoint = pointer !== null && typeof pointer === "object" ? (pointer as { checkpoint?: unknown }).checkpoint : undefined;
  if (typeof checkpoint !== "string" || !/^step-\d+$/.test(checkpoint)) throw new FormatError(`${file} is corrupt: expected {"step": N, "checkpoint": "step-NNNNNN"}, got ${text.slice(0, 80)}`);
  return checkpoint;
}

/** What a complete step folder holds; one missing some was cut short while being written or deleted. */
const CHECKPOINT_FILES = ["config.json", "model.safetensors", OPTIMIZER, TRAINING_STATE];

/**
 * Removes what interrupted checkpoint writes leave in a run folder: `step-N.tmp-PID/` folders,
 * step folders missing a file (a deletion cut short) and temporary files of atomic writes. The
 * checkpoint latest.json names is never touched. Returns what was removed.
 */
export async function cleanRunFolder(runDir: string): Promise<string[]> {
  const { readdir, rm, access } = await import("node:fs/promises");
  const { join } = await import("node:path");
  let entries: string[];
  try {
    entries = await readdir(runDir);
  } catch {
    return [];
  }
  const latest = await latestCheckpoint(runDir);
  const removed: string[] = [];
  for (const name of entries) {
    if (name === latest) continue;
    let stale = /^step-\d+\.tmp-\d+$/.test(name) || /\.\d+\.\d+\.tmp$/.test(name);
    if (!stale && /^step-\d+$/.test(name)) {
      for (const f of CHECKPOINT_FILES) if (!(await access(join(runDir, name, f)).then(() => true, () => false))) stale = true;
    }
    if (!stale) continue;
    await rm(join(runDir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

/**
 * The model folder a path stands for: a run folder (its latest checkpoint) or a model folder.
 * A run folder whose latest.json points nowhere is reported as corrupt, naming the file.
 */
export async function resolveModelDir(path: string): Promise<string> {
  const { access } = await import("node:fs/promises");
  const { join } = await import("node:path");
  const exists = (p: string) => access(p).then(() => true, () => false);
  if (await exists(join(path, LATEST))) {
    const checkpoint = await latestCheckpoint(path);
    const dir = join(path, checkpoint ?? "");
    if (checkpoint === undefined || !(await exists(join(dir, "config.json")))) throw new FormatError(`${join(path, LATEST)} points to ${String(checkpoint)}, which is not a complete checkpoint`);
    return dir;
  }
  if (await exists(join(path, "config.json"))) return path;
  throw new DenseSSMError(`${path} is neither a model folder (no config.json) nor a training run (no ${LATEST})`);
}

/** Reads the optimizer moments and training state saved beside a checkpoint's weights. */
export async function readTrainingState(checkpointDir: string): Promise<{ state: TrainingState; optimizer: AdamWState }> {
  const { readFile } = await import("node:fs/promises");
  const { join } = await import("node:path");
  const file = join(checkpointDir, TRAINING_STATE);
  let state: TrainingState;
  try {
    state = JSON.parse(await readFile(file, "utf8")) as TrainingState;
  } catch (e) {
    throw new FormatError(`${file}: cannot read the training state (${(e as NodeJS.ErrnoException).code === "ENOENT" ? "missing: this folder holds a model, not a resumable run" : (e as Error).message})`);
  }
  if (state === null || typeof state !== "object" || state.format !== "densessm-training-state" || state.version !== 1 || !Number.isInteger(state.step)) throw new FormatError(`${file}: not a DenseSSM.js training state`);
  const { tensors, metadata } = await readSafetensors(join(checkpointDir, OPTIMIZER));
  const moments = new Map<string, { m: Tensor; v: Tensor }>();
  for (const [name, m] of tensors) {
    if (!name.startsWith("exp_avg.")) continue;
    const param = name.slice("exp_avg.".length);
    const v = tensors.get(`exp_avg_sq.${param}`);
    if (!v) throw new FormatError(`${join(checkpointDir, OPTIMIZER)}: exp_avg_sq.${param} is missing`);
    moments.set(param, { m, v });
  }
  return { state, optimizer: { step: Number(metadata.step ?? state.step), moments } };
}
