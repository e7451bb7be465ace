import { DenseSSMError } from "../errors.js";
import { defaultRng, type Rng } from "../runtime/rng.js";

export interface SamplingOptions {
  /** 0 (or undefined with no topK/topP) means greedy. */
  temperature?: number;
  topK?: number;
  /** Nucleus sampling: keep the smallest set of tokens whose probability reaches topP. */
  topP?: number;
  /** > 1 discourages tokens already in `previous` (CTRL-style: logits divided or multiplied). */
  repetitionPenalty?: number;
  previous?: Iterable<number>;
  rng?: Rng;
}

/** Index of the largest logit (the first on ties). */
export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  return best;
}

/** Applies the repetition penalty to a copy of the logits. */
export function applyRepetitionPenalty(logits: ArrayLike<number>, previous: Iterable<number>, penalty: number): Float32Array {
  const out = Float32Array.from(logits);
  if (penalty === 1) return out;
  for (const id of new Set(previous)) {
    if (id < 0 || id >= out.length) continue;
    const v = out[id]!;
    out[id] = v > 0 ? v / penalty : v * penalty;
  }
  return out;
}

/**
 * Picks the next token from one row of logits: repetition penalty, then temperature, top-k and
 * top-p filtering, then a draw from the seeded generator (argmax when temperature is 0).
 */
export function sampleToken(logits: ArrayLike<number>, options: SamplingOptions = {}): number {
  const { temperature = 0, topK, topP, repetitionPenalty = 1 } = options;
  if (temperature < 0 || (topK !== undefined && !(topK >= 1)) || (topP !== undefined && !(topP > 0 && topP <= 1)) || !(repetitionPenalty > 0)) {
    throw new DenseSSMError(`sampling: need temperature >= 0, topK >= 1, 0 < topP <= 1, repetitionPenalty > 0 (got ${JSON.stringify({ temperature, topK, topP, repetitionPenalty })})`);
  }
  const scores = applyRepetitionPenalty(logits, options.previous ?? [], repetitionPenalty);
  if (temperature === 0) return argmax(scores);

  let order = Array.from(scores.keys()).sort((a, b) => scores[b]! - scores[a]!);
  if (topK !== undefined) order = order.slice(0, topK);
  const top = scores[order[0]!]!;
  const weights = order.map((i) => Math.exp((scores[i]! - top) / temperature));
  const total = weights.reduce((a, b) => a + b, 0);
  let keep = order.length;
  if (topP !== undefined) {
    let mass = 0;
    for (let j = 0; j < order.length; j++) {
      mass += weights[j]! / total;
      if (mass >= topP) {
        keep = j + 1;
        break;
      }
    }
  }
  const kept = weights.slice(0, keep);
  const keptTotal = kept.reduce((a, b) => a + b, 0);
  let r = (options.rng ?? defaultRng()).uniform() * keptTotal;
  for (let j = 0; j < keep; j++) {
    r -= kept[j]!;
    if (r < 0) return order[j]!;
  }
  return order[keep - 1]!;
}
