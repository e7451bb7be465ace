import { DenseSSMError } from "../errors.js";
import type { Graph } from "../graph/graph.js";
import { trace, type SymTensor } from "../graph/symbolic.js";
import { arange } from "../ops/composites.js";
import { equal, less, maximum, where } from "../ops/elementwise.js";
import { concat } from "../ops/views.js";
import { checkSampleAttrs, sample, type SampleAttrs } from "../ops/sample.js";

// The token draw every decoder appends to its logits on the backend, and the log-probabilities
// reported beside a drawn token. Shared by GraphDecoder (one position for every row) and
// BatchDecoder (streams joining and leaving), so a token drawn either way is the same token.

/** How a token is drawn (see `TokenDraw`), checked, without the uniforms. */
export type DrawAttrs = SampleAttrs & { readonly repetitionPenalty: number; readonly vocabSize?: number };

export interface DrawSettings {
  readonly temperature?: number;
  readonly topK?: number;
  readonly topP?: number;
  readonly repetitionPenalty?: number;
  readonly vocabSize?: number;
}

/** Fills in the defaults (greedy, filters off, no penalty) and checks every setting. */
export function drawAttrs(draw: DrawSettings): DrawAttrs {
  const attrs: SampleAttrs = { temperature: draw.temperature ?? 0, topK: draw.topK ?? 0, topP: draw.topP ?? 1 };
  checkSampleAttrs(attrs);
  const penalty = draw.repetitionPenalty ?? 1;
  if (!(Number.isFinite(penalty) && penalty > 0)) throw new DenseSSMError(`draw: repetitionPenalty must be a positive number, got ${penalty}`);
  const vocab = draw.vocabSize;
  if (vocab !== undefined && !(Number.isInteger(vocab) && vocab >= 1)) throw new DenseSSMError(`draw: vocabSize must be a positive integer, got ${vocab}`);
  return { ...attrs, repetitionPenalty: penalty, ...(vocab === undefined ? {} : { vocabSize: vocab }) };
}

/** A cache key: draws with equal keys are the same graph. */
export const drawKey = (a: DrawAttrs): string => `${a.temperature}/${a.topK}/${a.topP}/${a.repetitionPenalty}/${a.vocabSize ?? ""}`;

export const isPenalized = (a: DrawAttrs): boolean => a.repetitionPenalty !== 1;

/**
 * `sample` over the last position of logits [B, L, V], limited to the first `vocabSize` entries,
 * after the repetition penalty over the tokens marked in `seen` [B, V].
 */
export function drawFrom(logits: SymTensor, uniforms: SymTensor, { vocabSize, repetitionPenalty, ...attrs }: DrawAttrs, seen?: SymTensor): SymTensor {
  const [b, l, v] = logits.shape as [number, number, number];
  let last = logits.slice(1, l - 1, l).reshape([b, v]);
  if (seen && repetitionPenalty !== 1) last = where(seen, where(less(0, last), last.div(repetitionPenalty), last.mul(repetitionPenalty)), last);
  if (vocabSize !== undefined && vocabSize < v) last = last.slice(1, 0, vocabSize);
  return sample(last, uniforms, attrs);
}

/** logits [B, L, V], uniforms [B] (and seen [B, V] when penalized) → next_tokens [B]. */
export function drawGraph(shape: readonly [number, number, number], attrs: DrawAttrs): Graph {
  const [b, l, v] = shape;
  return trace((x) => ({ next_tokens: drawFrom(x.logits!, x.uniforms!, attrs, x.seen) }), {
    inputs: { logits: { shape: [b, l, v] }, uniforms: { shape: [b] }, ...(isPenalized(attrs) ? { seen: { shape: [b, v] } } : {}) },
  });
}

/** seen [B, V] with the tokens ids [B, 1] marked: the repetition penalty's memory, updated on the backend. */
export function markSeen(seen: SymTensor, ids: SymTensor): SymTensor {
  const v = seen.dim(1);
  return maximum(seen, equal(ids, arange(v, "int32", seen.builder)));
}

/**
 * Log-probabilities of the model's distribution (the raw logits, before penalty and temperature)
 * at the last position of logits [B, L, V], limited to the first `vocabSize` entries: the drawn
 * token's `chosen_logprob` [B] and the `top` most likely tokens, `top_ids` / `top_logprobs`
 * [B, top] in descending order (the lowest id first on ties). Only these numbers are read back,
 * never the vocabulary. The top tokens are found by `top` rounds of max-and-mask.
 */
export function logprobGraph(shape: readonly [number, number, number], vocabSize: number, top: number): Graph {
  const [b, l, v] = shape;
  const width = Math.min(vocabSize, v);
  return trace(
    (x, builder) => {
      const logp = x.logits!.slice(1, l - 1, l).reshape([b, v]).slice(1, 0, width).logSoftmax(-1);
      const ids = arange(width, "float32", builder);
      const at = (id: SymTensor) => where(equal(ids, id), logp, 0).sum(-1);
      const out: Record<string, SymTensor> = { chosen_logprob: at(x.chosen!.cast("float32").reshape([b, 1])) };
      if (top > 0) {
        let rest = logp;
        const values: SymTensor[] = [];
        const picks: SymTensor[] = [];
        for (let i = 0; i < top; i++) {
          const best = rest.max(-1, true);
          const pick = where(less(rest, best), width, ids).neg().max(-1, true).neg(); // the lowest id holding it
          values.push(best);
          picks.push(pick);
          rest = where(equal(ids, pick), -Infinity, rest);
        }
        out.top_logprobs = concat(values, 1);
        out.top_ids = concat(picks, 1).cast("int32");
      }
      return out;
    },
    { inputs: { logits: { shape: [b, l, v] }, chosen: { shape: [b], dtype: "int32" } } },
  );
}
