import { FormatError } from "../errors.js";
import { parseSafetensors, serializeSafetensors } from "../io/safetensors.js";
import { formatShape, sameShape } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import type { StateSpec } from "./family.js";
import { DecoderSnapshot } from "./snapshot.js";

// A decoder snapshot as a file: safetensors (one tensor per state, the next-token logits and the
// tokens fed), with the model's identity in the metadata so that a state is never resumed by a
// model it does not belong to. Weights are not part of the identity: a state moves between two
// checkpoints of one config (a fine-tune, say) without complaint, and means little there.

const FORMAT = "densessm-decoder-state";
const VERSION = "1";

/** What a state file must match to be resumed by a model. */
export interface StateIdentity {
  /** The model's kind ("dense-mamba", ...). */
  readonly family: string;
  /** config.json as the model writes it. */
  readonly config: Readonly<Record<string, unknown>>;
  readonly states: readonly StateSpec[];
  /** V of the logits [B, V] (models may pad their vocabulary). */
  readonly logitsWidth: number;
  readonly vocabSize: number;
}

export function serializeState(identity: StateIdentity, snapshot: DecoderSnapshot): Uint8Array {
  const tensors: [string, Tensor][] = identity.states.map((s) => {
    const t = snapshot.state[s.name];
    if (!t) throw new FormatError(`serializeState: the snapshot has no state "${s.name}"`);
    return [`state.${s.name}`, t];
  });
  tensors.push(["logits", snapshot.logits], ["tokens", Tensor.int32(snapshot.tokens.flat(), [snapshot.batch, snapshot.position])]);
  return serializeSafetensors(tensors, {
    format: FORMAT,
    version: VERSION,
    family: identity.family,
    config: canonicalJson(identity.config),
    states: JSON.stringify(identity.states.map((s) => ({ name: s.name, dtype: s.dtype, shape: s.shape(1) }))),
    position: String(snapshot.position),
  });
}

export function deserializeState(identity: StateIdentity, bytes: Uint8Array): DecoderSnapshot {
  const file = parseSafetensors(bytes, "state");
  const meta = file.metadata;
  if (meta.format !== FORMAT) throw new FormatError(`state: not a DenseSSM.js decoder state (metadata format ${JSON.stringify(meta.format ?? null)})`);
  if (meta.version !== VERSION) throw new FormatError(`state: version ${JSON.stringify(meta.version)} is not supported (this build reads ${VERSION})`);
  if (meta.family !== identity.family) throw new FormatError(`state: saved by a ${meta.family} model, this is a ${identity.family} model`);
  const differing = configDifferences(parseConfig(meta.config), identity.config);
  if (differing.length) throw new FormatError(`state: saved by a model with another config (${differing.join("; ")})`);

  const logits = file.tensors.get("logits");
  const tokens = file.tensors.get("tokens");
  if (!logits || logits.dtype !== "float32" || logits.shape.length !== 2) throw new FormatError("state: needs float32 logits [batch, vocab]");
  const [batch, width] = logits.shape as [number, number];
  if (width !== identity.logitsWidth) throw new FormatError(`state: logits have ${width} entries, this model's ${identity.logitsWidth}`);
  if (!tokens || tokens.dtype !== "int32" || tokens.shape.length !== 2 || tokens.shape[0] !== batch) throw new FormatError(`state: needs int32 tokens [${batch}, position]`);
  const position = tokens.shape[1]!;
  if (meta.position !== String(position)) throw new FormatError(`state: metadata position ${JSON.stringify(meta.position)} does not match its ${position} tokens`);
  const ids = tokens.data as Int32Array;
  if (ids.some((t) => t < 0 || t >= identity.vocabSize)) throw new FormatError(`state: tokens must be in [0, ${identity.vocabSize})`);

  const state: Record<string, Tensor> = {};
  for (const spec of identity.states) {
    const t = file.tensors.get(`state.${spec.name}`);
    if (!t) throw new FormatError(`state: missing state "${spec.name}"`);
    const shape = spec.shape(batch);
    if (t.dtype !== spec.dtype || !sameShape(t.shape, shape)) throw new FormatError(`state: "${spec.name}" is ${t.dtype}${formatShape(t.shape)}, this model's is ${spec.dtype}${formatShape(shape)}`);
    state[spec.name] = t;
  }
  const known = new Set(["logits", "tokens", ...identity.states.map((s) => `state.${s.name}`)]);
  const unknown = [...file.tensors.keys()].filter((n) => !known.has(n));
  if (unknown.length) throw new FormatError(`state: unexpected tensor(s) ${unknown.join(", ")}`);
  const rows = Array.from({ length: batch }, (_, b) => Array.from(ids.subarray(b * position, (b + 1) * position)));
  return new DecoderSnapshot(state, logits, rows);
}

function parseConfig(text: string | undefined): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text ?? "");
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new FormatError("state: the metadata holds no model config");
}

/** "key (saved x, this model y)" for every top-level key whose value differs. */
function configDifferences(saved: Readonly<Record<string, unknown>>, mine: Readonly<Record<string, unknown>>): string[] {
  const keys = [...new Set([...Object.keys(saved), ...Object.keys(mine)])].sort();
  return keys.filter((k) => canonicalJson(saved[k]) !== canonicalJson(mine[k])).map((k) => `${k}: saved ${canonicalJson(saved[k]) ?? "absent"}, this model ${canonicalJson(mine[k]) ?? "absent"}`);
}

/** JSON with object keys sorted, so equal configs give equal text. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_, v: unknown) => (v && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v));
}
