import { SAMPLE_SEARCH_STEPS, type SampleAttrs } from "@densessm/core";
import type { KernelBuilder, Memory } from "../lang/builder.js";
import { defineKernel } from "../lang/kernel.js";
import { groupIndex, guard, maxOf, rowReduce, sumOf, treeReduce } from "../lang/std.js";
import { exp, f32, select, type Val } from "../lang/values.js";
import { grid } from "./grid.js";
import { single, type KernelFactory } from "./types.js";

const GROUP = 64;

type SampleSpec = { readonly rows: number; readonly vocab: number; readonly temperature: number; readonly topK: number; readonly topP: number };

/** The first index of the row's largest value: strided scans per invocation, then a (value, index) tree. */
function argmax(k: KernelBuilder, x: Memory<"f32">, y: Memory<"i32">, spec: SampleSpec, part: Memory<"f32">, at: Memory<"u32">): void {
  const { rows, vocab } = spec;
  const tid = k.localIndex;
  const item = groupIndex(k);
  guard(k, item, rows);
  const base = k.let("base", item.mul(vocab));
  const best = k.var("best", "f32", -Infinity);
  const index = k.var("index", "u32", vocab);
  k.range("j", tid, vocab, (j) => {
    const v = k.let("v", x.at(base.add(j)));
    k.if(v.gt(best).or(index.eq(vocab)), () => {
      best.set(v);
      index.set(j);
    });
  }, GROUP);
  part.set(tid, best);
  at.set(tid, index);
  k.barrier();
  for (let s = GROUP / 2; s >= 1; s /= 2) {
    const other = tid.add(s);
    const better = part.at(other).gt(part.at(tid)).or(part.at(other).eq(part.at(tid)).and(at.at(other).lt(at.at(tid))));
    k.if(tid.lt(s), () =>
      k.if(better, () => {
        part.set(tid, part.at(other));
        at.set(tid, at.at(other));
      }),
    );
    k.barrier();
  }
  k.if(tid.eq(0), () => y.set(item, at.at(0).i32()));
}

/**
 * A draw as core's decomposition makes it (see SAMPLE): the max, the top-k and top-p thresholds
 * by bisection over w = e^((x - max)/T) ∈ [0, 1] (each step one reduction over the row), then the
 * inverse CDF in vocabulary order from blockwise running sums. Weights are recomputed rather than
 * stored, because a row of logits does not fit in workgroup memory.
 */
function draw(k: KernelBuilder, x: Memory<"f32">, u: Memory<"f32">, y: Memory<"i32">, spec: SampleSpec, part: Memory<"f32">, at: Memory<"u32">): void {
  const { rows, vocab, temperature, topK, topP } = spec;
  const tid = k.localIndex;
  const invT = Math.fround(1 / temperature);
  const block = Math.ceil(vocab / GROUP);
  const item = groupIndex(k);
  guard(k, item, rows);
  const base = k.let("base", item.mul(vocab));
  const keep = (w: Val<"f32">, tau: Val<"f32">) => select(w.ge(tau), w, f32(0));
  const rowSum = (name: string, value: (j: Val<"u32">) => Val<"f32">) => rowReduce(k, name, { length: vocab, value, init: f32(0), combine: sumOf, part });
  /** Bisection for the largest τ in [0, 1] where `holds(rowSum of value(j, mid))` is true. */
  const bisect = (name: string, value: (j: Val<"u32">, mid: Val<"f32">) => Val<"f32">, holds: (sum: Val<"f32">) => Val<"bool">): Val<"f32"> => {
    const lo = k.var(`${name}_lo`, "f32", 0);
    const hi = k.var(`${name}_hi`, "f32", 1);
    k.range("step", 0, SAMPLE_SEARCH_STEPS, () => {
      const mid = k.let("mid", lo.add(hi).mul(0.5));
      const ok = k.let("ok", holds(rowSum(`${name}_s`, (j) => value(j, mid))));
      lo.set(select(ok, mid, lo));
      hi.set(select(ok, hi, mid));
    });
    return k.let(name, lo);
  };

  const mx = rowReduce(k, "mx", { length: vocab, value: (j) => x.at(base.add(j)).mul(invT), init: f32(-Infinity), combine: maxOf, part });
  // Weights after each filter, as functions of j.
  const w = (j: Val<"u32">) => exp(x.at(base.add(j)).mul(invT).sub(mx));
  let wk = w;
  if (topK > 0 && topK < vocab) {
    const tauK = bisect("tau_k", (j, mid) => select(w(j).ge(mid), f32(1), f32(0)), (s) => s.ge(topK));
    wk = (j) => keep(w(j), tauK);
  }
  let wp = wk;
  if (topP < 1) {
    const mass = rowSum("mass", wk);
    const goal = k.let("goal", mass.mul(Math.fround(topP)));
    const tauP = bisect("tau_p", (j, mid) => keep(wk(j), mid), (s) => s.ge(goal));
    wp = (j) => keep(wk(j), tauP);
  }
  // Inverse CDF: invocation t owns the block [t·B, (t+1)·B). Block sums, their exclusive prefix,
  // then each counts the running sums in its block at or below u · total; the count is capped at
  // the last token with weight, as in the decomposition.
  const first = k.let("first", tid.mul(block));
  const end = k.let("end", first.add(block).min(vocab));
  const own = k.var("own", "f32", 0);
  k.range("j", first, end, (j) => own.set(own.add(wp(j))));
  part.set(tid, own);
  k.barrier();
  const before = k.var("before", "f32", 0);
  const total = k.var("total", "f32", 0);
  k.range("t", 0, GROUP, (t) => {
    k.if(t.eq(tid), () => before.set(total));
    total.set(total.add(part.at(t)));
  });
  const goalMass = k.let("goal_mass", u.at(item).mul(total));
  const running = k.var("running", before);
  const count = k.var("count", "u32", 0);
  const last = k.var("last", "u32", 0);
  k.range("j", first, end, (j) => {
    const wj = k.let("wj", wp(j));
    running.set(running.add(wj));
    k.if(running.le(goalMass), () => count.set(count.add(1)));
    k.if(wj.gt(0), () => last.set(j));
  });
  k.barrier();
  at.set(tid, count);
  part.set(tid, last.f32());
  k.barrier();
  treeReduce(k, at, GROUP, sumOf);
  treeReduce(k, part, GROUP, maxOf);
  k.if(tid.eq(0), () => y.set(item, at.at(0).min(part.at(0).u32()).i32()));
}

/**
 * `sample`: one workgroup per row of logits draws that row's token. Only the int32 token ids are
 * written, so decoding reads back 4 bytes per row.
 */
const sampleKernel = defineKernel("sample", (k, spec: SampleSpec) => {
  k.workgroupSize(GROUP);
  const greedy = spec.temperature === 0;
  const x = k.input("x", "f32");
  // Greedy draws ignore the uniforms, so they bind the logits alone (unused bindings are invalid).
  const u = greedy ? undefined : k.input("u", "f32");
  const y = k.output("y", "i32");
  const part = k.shared("part", "f32", GROUP);
  const at = k.shared("at", "u32", GROUP);
  if (u) draw(k, x, u, y, spec, part, at);
  else argmax(k, x, y, spec, part, at);
});

export const sampleNode: KernelFactory = (node, [logits]) => {
  const [rows, vocab] = logits!.shape as [number, number];
  const { temperature, topK, topP } = node.attrs as SampleAttrs;
  const spec: SampleSpec = { rows, vocab, temperature, topK, topP };
  return single(sampleKernel.specialize(spec), grid(rows), temperature === 0 ? 1 : 2);
};
