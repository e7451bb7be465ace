import { DenseSSMError, isPreset } from "@densessm/core";
import type { ModelSpec } from "../model-spec.js";
import type { TrainOptions } from "../train.js";
import type { MqarOptions } from "./mqar.js";

/** One configuration of a grid: a model, and optionally the configuration it is compared against. */
export interface StudyConfiguration {
  /** Unique within the grid; names its runs (`<name>-seed<k>`) and its table row. */
  name: string;
  /** A preset, a config.json path (relative to the grid file) or a config object. */
  model: ModelSpec;
  /** The configuration this one is paired with over seeds (and must match in size). */
  baseline?: string;
  /** One line for the table: what this configuration changes. */
  description?: string;
}

/** How each language-modeling run trains (any TrainOptions knob a grid may fix). */
export type StudyTraining = Partial<Pick<TrainOptions, "steps" | "tokens" | "batchSize" | "seqLen" | "lr" | "warmupSteps" | "schedule" | "minLr" | "weightDecay" | "clip" | "gradAccum" | "evalEvery" | "evalBatches" | "checkpointEvery" | "validationFraction" | "vocabSize">>;

/**
 * A named grid of configurations × seeds on one task: language modeling on text (every run shares
 * the tokenizer and, per seed, the initialisation seed and the batches), or MQAR recall.
 */
export interface StudyGrid {
  name: string;
  description?: string;
  task?: "language-modeling" | "mqar";
  seeds?: number[];
  training?: StudyTraining;
  mqar?: MqarOptions;
  configurations: StudyConfiguration[];
  /** Largest relative parameter-count difference allowed between a configuration and its baseline (default 0.02). */
  maxSizeMismatch?: number;
}

/** Reads a grid file (JSON); config.json paths in it are relative to the file. */
export async function readGrid(file: string): Promise<StudyGrid> {
  const { readFile } = await import("node:fs/promises");
  const { dirname, resolve } = await import("node:path");
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, "utf8"));
  } catch (e) {
    throw new DenseSSMError(`study grid ${file}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message}`);
  }
  const grid = checkGrid(json, file);
  return { ...grid, configurations: grid.configurations.map((c) => (typeof c.model === "string" && !isPreset(c.model) ? { ...c, model: resolve(dirname(file), c.model) } : c)) };
}

/** Checks a grid's shape; every problem is a DenseSSMError naming the grid and the field. */
export function checkGrid(json: unknown, where = "study grid"): StudyGrid {
  const fail = (what: string): never => {
    throw new DenseSSMError(`${where}: ${what}`);
  };
  if (typeof json !== "object" || json === null || Array.isArray(json)) fail("expected a JSON object");
  const grid = json as StudyGrid;
  if (typeof grid.name !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(grid.name)) fail(`"name" must be letters, digits, '.', '_' or '-', got ${JSON.stringify(grid.name)}`);
  if (grid.task !== undefined && grid.task !== "language-modeling" && grid.task !== "mqar") fail(`"task" must be "language-modeling" or "mqar", got ${JSON.stringify(grid.task)}`);
  if (grid.seeds !== undefined && (!Array.isArray(grid.seeds) || grid.seeds.length === 0 || !grid.seeds.every((s) => Number.isInteger(s) && s >= 0) || new Set(grid.seeds).size !== grid.seeds.length)) fail(`"seeds" must be distinct non-negative integers, got ${JSON.stringify(grid.seeds)}`);
  if (!Array.isArray(grid.configurations) || grid.configurations.length === 0) fail('"configurations" must be a non-empty array');
  const names = new Set<string>();
  for (const [i, c] of grid.configurations.entries()) {
    if (typeof c !== "object" || c === null) fail(`configuration ${i} must be an object`);
    if (typeof c.name !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(c.name)) fail(`configuration ${i}: "name" must be letters, digits, '.', '_' or '-', got ${JSON.stringify(c.name)}`);
    if (names.has(c.name)) fail(`configuration name "${c.name}" is used twice`);
    names.add(c.name);
    if (typeof c.model !== "string" && (typeof c.model !== "object" || c.model === null || Array.isArray(c.model))) fail(`configuration "${c.name}": "model" must be a preset, a config.json path or a config object`);
  }
  for (const c of grid.configurations) {
    if (c.baseline === undefined) continue;
    if (!names.has(c.baseline)) fail(`configuration "${c.name}": baseline "${c.baseline}" is not a configuration of this grid`);
    if (c.baseline === c.name) fail(`configuration "${c.name}" is its own baseline`);
  }
  if (grid.maxSizeMismatch !== undefined && !(grid.maxSizeMismatch >= 0)) fail(`"maxSizeMismatch" must be a non-negative number, got ${JSON.stringify(grid.maxSizeMismatch)}`);
  return grid;
}
