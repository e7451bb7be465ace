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

/**
 * The model folder a path stands for: a run folder (its latest checkpoint) or a model folder.
 * A run folder whose latest.json points nowhere is reported as corrupt, naming the file.
 */
export async function resolveModelDir(path: string): Promise<string> {
  const { readFile, access } = await import("node:fs/promises");
  const { join } = await import("node:path");
  const exists = (p: string) => access(p).then(() => true, () => false);
  if (await exists(join(path, LATEST))) {
    let pointer: { checkpoint?: unknown };
    try {
      pointer = JSON.parse(await readFile(join(path, LATEST), "utf8")) as { checkpoint?: unknown };
    } catch (e) {
      throw new FormatError(`${join(path, LATEST)} is corrupt: ${(e as Error).message}`);
    }
    const dir = join(path, String(pointer.checkpoint));
    if (typeof pointer.checkpoint !== "string" || !(await exists(join(dir, "config.json")))) throw new FormatError(`${join(path, LATEST)} points to ${String(pointer.checkpoint)}, which is not a complete checkpoint`);
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
  if (state.format !== "densessm-training-state" || state.version !== 1 || !Number.isInteger(state.step)) throw new FormatError(`${file}: not a DenseSSM.js training state`);
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
