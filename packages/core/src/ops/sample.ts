import { DenseSSMError, ShapeError } from "../errors.js";
import type { SymTensor, TensorLike } from "../graph/symbolic.js";
import { formatShape } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { cast } from "./cast.js";
import { arange } from "./composites.js";
import { add, exp, less, maximum, mul, neg, sub, where } from "./elementwise.js";
import { asSym, expectFloat, input } from "./helpers.js";
import { max, sum } from "./reduce.js";
import { defineOp, type CompositeOpDef, type TypeInfo } from "./registry.js";
import { scan } from "./scan.js";
import { sliceAxis } from "./views.js";

/** How `sample` draws: temperature 0 is greedy; topK 0 and topP 1 turn those filters off. */
export type SampleAttrs = {
  readonly temperature: number;
  readonly topK: number;
  readonly topP: number;
};

/**
 * Bisection steps of the top-k / top-p thresholds. They search w = e^((x - max) / T) in [0, 1],
 * so after 32 halvings the threshold is within 2^-32 of exact: the only tokens it can wrongly keep
 * have probability below 2^-32 of the most likely one.
 */
export const SAMPLE_SEARCH_STEPS = 32;

/**
 * Draws one token per row of logits [B, V] on the backend, so decoding reads back B ids instead of
 * B·V logits. With w_i = e^((x_i - max x) / T):
 *
 *   1. top-k keeps w_i ≥ τ_k, the largest τ with #{w ≥ τ} ≥ k;
 *   2. top-p keeps w_i ≥ τ_p, the largest τ whose kept mass Σ_{w ≥ τ} w reaches topP · Σ w;
 *   3. the token is the first i whose running sum of kept weights exceeds u · (their total),
 *      for the row's uniform u in [0, 1) — inverse-CDF sampling in vocabulary order.
 *
 * Both thresholds are found by bisection rather than sorting, which is what makes this a short
 * fixed sequence of reductions (a GPU does it in one workgroup per row). Ties at a threshold are
 * all kept. Temperature 0 is argmax (the first on ties) and ignores `uniforms`.
 */
export const SAMPLE = defineOp({
  name: "sample",
  kind: "composite",
  doc: "one token per row of logits [B, V] from uniforms [B]: temperature, top-k, top-p, inverse CDF (argmax at T = 0)",
  infer: (inputs: readonly TypeInfo[], attrs: SampleAttrs): TypeInfo => {
    const logits = input(inputs, 0, "sample");
    const uniforms = input(inputs, 1, "sample");
    expectFloat(logits, "sample", "logits");
    expectFloat(uniforms, "sample", "uniforms");
    if (logits.shape.length !== 2) throw new ShapeError(`sample: logits must be [batch, vocab], got ${formatShape(logits.shape)}`);
    if (uniforms.shape.length !== 1 || uniforms.shape[0] !== logits.shape[0]) {
      throw new ShapeError(`sample: uniforms must be [${logits.shape[0]}] (one per row of logits ${formatShape(logits.shape)}), got ${formatShape(uniforms.shape)}`);
    }
    checkSampleAttrs(attrs);
    return { shape: [logits.shape[0]!], dtype: "int32" };
  },
  decompose: ([logits, uniforms], attrs: SampleAttrs) => (attrs.temperature === 0 ? argmaxFirst(logits!) : drawFiltered(logits!, uniforms!, attrs)),
} satisfies CompositeOpDef<SampleAttrs>);

export function checkSampleAttrs({ temperature, topK, topP }: SampleAttrs): void {
  if (!(temperature >= 0) || !Number.isFinite(temperature)) throw new DenseSSMError(`sample: temperature must be a finite number >= 0, got ${temperature}`);
  if (!Number.isInteger(topK) || topK < 0) throw new DenseSSMError(`sample: topK must be a non-negative integer (0 = off), got ${topK}`);
  if (!(topP > 0 && topP <= 1)) throw new DenseSSMError(`sample: topP must be in (0, 1] (1 = off), got ${topP}`);
}

/** Draws one token per row of `logits` [B, V] with one uniform in [0, 1) per row (see SAMPLE). */
export function sample(logits: TensorLike, uniforms: TensorLike, options: { temperature?: number; topK?: number; topP?: number } = {}): SymTensor {
  const l = asSym(logits);
  const attrs: SampleAttrs = { temperature: options.temperature ?? 0, topK: options.topK ?? 0, topP: options.topP ?? 1 };
  return l.builder.emit(SAMPLE, [l, asSym(uniforms)], attrs);
}

/** Index of the largest value of each row (the first on ties), as int32 [B]. */
function argmaxFirst(x: SymTensor): SymTensor {
  const vocab = x.dim(-1);
  const best = where(sub(1, less(x, max(x, -1, true))), arange(vocab, "float32", x.builder), vocab);
  return cast(neg(max(neg(best), -1)), "int32");
}

/** 1 where x ≥ t, else 0. */
const atLeast = (x: SymTensor, t: TensorLike): SymTensor => sub(1, less(x, t));

/**
 * The largest τ in [0, 1] (to 2^-32) for which `holds(τ)` is 1, per row [B, 1], by bisection;
 * holds(0) must be 1. Every step keeps the half whose lower end still satisfies the predicate.
 */
function bisect(rows: number, builder: SymTensor["builder"], holds: (t: SymTensor) => SymTensor): SymTensor {
  let lo = builder.constant(Tensor.zeros([rows, 1]));
  let hi = builder.constant(Tensor.float32(new Array<number>(rows).fill(1), [rows, 1]));
  for (let i = 0; i < SAMPLE_SEARCH_STEPS; i++) {
    const mid = mul(add(lo, hi), 0.5);
    const ok = holds(mid);
    lo = where(ok, mid, lo);
    hi = where(ok, hi, mid);
  }
  return lo;
}

function drawFiltered(logits: SymTensor, uniforms: SymTensor, { temperature, topK, topP }: SampleAttrs): SymTensor {
  const [rows, vocab] = logits.shape as [number, number];
  const { builder } = logits;
  // Multiplying by 1/T (rather than dividing) keeps every backend's rounding the same.
  const scaled = mul(logits, Math.fround(1 / temperature));
  let w = exp(sub(scaled, max(scaled, -1, true)));
  if (topK > 0 && topK < vocab) {
    const tau = bisect(rows, builder, (t) => atLeast(sum(atLeast(w, t), -1, true), topK));
    w = mul(w, atLeast(w, tau));
  }
  if (topP < 1) {
    const goal = mul(sum(w, -1, true), Math.fround(topP));
    const tau = bisect(rows, builder, (t) => atLeast(sum(mul(w, atLeast(w, t)), -1, true), goal));
    w = mul(w, atLeast(w, tau));
  }
  const running = scan(builder.constant(Tensor.float32(new Array<number>(rows * vocab).fill(1), [rows, vocab])), w, { axis: 1 });
  const target = mul(uniforms.unsqueeze(-1), sliceAxis(running, 1, vocab - 1, vocab));
  // The first i whose running sum exceeds the target is the number of running sums at or below it;
  // rounding can push that past the last kept token, so it is capped there.
  const drawn = sum(atLeast(target, running), -1);
  const lastKept = max(where(less(0, w), arange(vocab, "float32", builder), 0), -1);
  return cast(neg(maximum(neg(drawn), neg(lastKept))), "int32");
}
