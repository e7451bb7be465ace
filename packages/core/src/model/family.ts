import { DenseSSMError, FormatError } from "../errors.js";
import type { SymTensor } from "../graph/symbolic.js";
import { withoutInitialization } from "../nn/init.js";
import type { Module } from "../nn/module.js";
import type { DType } from "../tensor/dtype.js";
import type { Tensor } from "../tensor/tensor.js";

// A model family (DenseGAU-RetNet, RetNet, Mamba, a user's own) plugs into core the way a backend
// does: it registers itself, is found from config.json, and from then on everything above it —
// training, evaluation, decoding, export, the CLI, the browser loader — goes through `CausalLM`,
// which only ever sees the interfaces below.

/** A family's parsed config.json: typed fields, and the official snake_case JSON back. */
export interface ModelConfig {
  /** The registered family this config belongs to. */
  readonly family: string;
  /** Tokens the model knows: token ids are checked against it and a tokenizer must fit in it. */
  readonly vocabSize: number;
  /** config.json as the official code writes it (snake_case keys). */
  toJSON(): Record<string, unknown>;
}

/** One recurrent state tensor a model carries from chunk to chunk (per batch row). */
export interface StateSpec {
  /** e.g. "retention.0", "conv.3": graphs take it as `past_<name>` and return `present_<name>`. */
  readonly name: string;
  readonly dtype: DType;
  shape(batch: number): number[];
}

/** How a whole sequence is computed from the start (the recurrent form is always available). */
export type SequenceForm = "parallel" | "chunkwise";

/**
 * Inputs of the chunk graph that depend only on the absolute positions of its tokens (RetNet's
 * rotation tables and decay factors). `values(start, length)` gives each feed's rows for positions
 * start .. start + length - 1 as float32 [length, ...row]; the chunk graph takes each feed as
 * [B, T, ...row], row (b, t) for the position of token t of sequence b, because the sequences of a
 * batch may stand at different positions (continuous batching). Because rows are per position, a
 * runtime that only knows position ids (an exported ONNX model) can look them up in a table built
 * from `values`.
 */
export interface PositionFeeds {
  readonly rows: Readonly<Record<string, readonly number[]>>;
  values(start: number, length: number): Record<string, Tensor>;
}

/** What `chunk` returns: logits [B, T, V] and every state after the chunk, by StateSpec name. */
export interface ChunkOutput {
  readonly logits: SymTensor;
  readonly state: Readonly<Record<string, SymTensor>>;
}

export interface LoadStateDictOptions {
  /**
   * Parameters that may be absent from the checkpoint and then keep their current values (e.g. the
   * dense connections of a DenseMamba started from a plain Mamba checkpoint).
   */
  readonly keepMissing?: (name: string) => boolean;
}

/**
 * One model built by a family from a config: its module tree (parameter names are the official
 * checkpoint keys) and the computations core traces into graphs. Model code only describes the
 * math; `CausalLM` owns graph caching, sessions, ids, the loss and the decoding loop.
 */
export interface FamilyModel<C extends ModelConfig = ModelConfig> {
  /** What this model is, for people and file metadata: "dense-gau-retnet", "dense-mamba", ... */
  readonly kind: string;
  readonly config: C;
  readonly module: Module;
  /** Whole-sequence forms `sequence` implements. */
  readonly sequenceForms: readonly SequenceForm[];
  /** The chunk length of the "chunkwise" form and of prefill, unless the user sets one. */
  readonly defaultChunkSize: number;
  readonly states: readonly StateSpec[];
  readonly positions?: PositionFeeds;
  /** The longest context the model was built for (config's max positions), if it has one. */
  readonly contextLength?: number;
  /** Logits [B, L, V] of ids [B, L] (int32), from the start of the sequence. */
  sequence(ids: SymTensor, form: SequenceForm, options: { readonly chunkSize: number }): SymTensor;
  /** Tokens ids [B, T] continuing from `state` (T = 1 is one decoding step). */
  chunk(ids: SymTensor, state: Readonly<Record<string, SymTensor>>, positions: Readonly<Record<string, SymTensor>>): ChunkOutput;
  /** Loads weights by their official names, in any layout the family reads. */
  loadStateDict(tensors: ReadonlyMap<string, Tensor>, options?: LoadStateDictOptions): void;
  /** The weights by their official names, as the official code saves them. */
  stateDict(): Map<string, Tensor>;
}

export interface CreateOptions {
  /** Seed of the parameter initialisation (default 0). */
  readonly seed?: number;
  /**
   * false: weights follow (a checkpoint is about to be loaded), so skip the initialisation. Core
   * builds such a model inside `withoutInitialization`, where `init` gives zeros without drawing
   * random numbers or touching memory; a family with initialisers of its own may check it too.
   */
  readonly initialize?: boolean;
}

/** A config.json for a named preset, sized to a vocabulary. */
export type Preset = (vocabSize: number) => Record<string, unknown>;

export interface ModelFamily<C extends ModelConfig = ModelConfig> {
  /** The registry key, also `ModelConfig.family` of its configs. */
  readonly name: string;
  /** Whether a config.json belongs to this family (checked before `fromConfig`). */
  detect(config: Readonly<Record<string, unknown>>): boolean;
  /** Parses and checks a config.json; every problem is a FormatError naming the key. */
  fromConfig(config: Readonly<Record<string, unknown>>): C;
  /** A freshly initialised model (the official initialisation). */
  create(config: C, options?: CreateOptions): FamilyModel<C>;
  /** Named configurations for `train --model <preset>`. */
  readonly presets?: Readonly<Record<string, Preset>>;
}

/** `family.create`, honouring `initialize: false` for every family (see CreateOptions). */
export function createFamilyModel<C extends ModelConfig>(family: ModelFamily<C>, config: C, options: CreateOptions = {}): FamilyModel<C> {
  try {
    return options.initialize === false ? withoutInitialization(() => family.create(config, options)) : family.create(config, options);
  } catch (e) {
    // A config within every per-key limit can still ask for one tensor past what an array holds.
    if (e instanceof RangeError) throw new FormatError(`config: its sizes need a tensor larger than can be allocated (${e.message}); is it the config of a real ${family.name} model?`);
    throw e;
  }
}

const families = new Map<string, ModelFamily>();

/**
 * Makes a family loadable: `CausalLM.fromPretrained` and `CausalLM.fromConfig` find it from
 * config.json. Family packages call this when imported; a user's family calls it the same way.
 * Registering a name again replaces the earlier registration.
 */
export function registerModelFamily<C extends ModelConfig>(family: ModelFamily<C>): void {
  if (!/^[a-z0-9][a-z0-9_-]*$/.test(family.name)) throw new DenseSSMError(`model family name "${family.name}" must be lower-case letters, digits, '-' or '_'`);
  families.set(family.name, family as unknown as ModelFamily);
}

export function unregisterModelFamily(name: string): void {
  families.delete(name);
}

/** Registered families, in registration order. */
export function listModelFamilies(): ModelFamily[] {
  return [...families.values()];
}

export function getModelFamily(name: string): ModelFamily {
  const family = families.get(name);
  if (!family) throw new DenseSSMError(`unknown model family "${name}"; registered: ${registeredNames()}`);
  return family;
}

/** The family a config.json belongs to; `where` names the file in the error. */
export function detectModelFamily(config: Readonly<Record<string, unknown>>, where = "config.json"): ModelFamily {
  const matches = [...families.values()].filter((f) => f.detect(config));
  if (matches.length === 1) return matches[0]!;
  const type = JSON.stringify(config.model_type ?? null);
  if (matches.length === 0) throw new FormatError(`${where}: no registered model family recognises this config (model_type ${type}); registered: ${registeredNames()}`);
  throw new FormatError(`${where}: several model families claim this config (model_type ${type}): ${matches.map((f) => f.name).join(", ")}`);
}

/** Every registered preset name with its family. */
export function listPresets(): { name: string; family: string }[] {
  return [...families.values()].flatMap((f) => Object.keys(f.presets ?? {}).map((name) => ({ name, family: f.name })));
}

/** The config.json of a registered preset for a vocabulary size. */
export function presetConfig(name: string, vocabSize: number): Record<string, unknown> {
  for (const f of families.values()) {
    const preset = f.presets && Object.hasOwn(f.presets, name) ? f.presets[name] : undefined;
    if (preset) return preset(vocabSize);
  }
  throw new DenseSSMError(`unknown model preset "${name}" (presets: ${listPresets().map((p) => p.name).join(", ") || "none registered"}; or pass a config.json path)`);
}

export function isPreset(name: string): boolean {
  return listPresets().some((p) => p.name === name);
}

function registeredNames(): string {
  return families.size ? [...families.keys()].join(", ") : "none (import a model family package; @densessm/lm registers every family DenseSSM.js ships)";
}
