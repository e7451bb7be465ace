import type { KernelBuilder, Memory } from "../lang/builder.js";
import { defineKernel } from "../lang/kernel.js";
import { elementIndex, guard } from "../lang/std.js";
import { exp, f32, inverseSqrt, select, u32, type Val } from "../lang/values.js";
import { elementGrid } from "./grid.js";
import type { Dispatch, KernelFactory } from "./types.js";

// Single kernels for the retnet family's retention ops, keyed by op name and attrs (this package
// does not import retnet). q, k: [B, H, L, dk], v: [B, H, L, dv] → y: [B, L, H, dv], with
//     y[b, t, h] = Σ_s (q_t · k_s) γ_h^(t-s) v_s / sqrt(c_(start+t)),   c_p = Σ_{j≤p} γ^j,
// over s ≤ t (parallel) or s in t's chunk plus a carried state (chunkwise). The decay is computed
// in the kernel from per-head constants, so no [H, L, L] mask is read and no [L, L] scores are
// stored. The kernels have no workgroup memory and no barriers (costly on software adapters): one
// invocation per output row reads keys and values straight from storage, which neighbouring
// invocations (the next rows) read at the same time. Loops over the key width and the output
// columns are unrolled into registers.

/** Output columns one invocation accumulates; wider values are split in column blocks. */
const MAX_COLUMNS = 64;

type RetentionShape = { readonly batch: number; readonly heads: number; readonly len: number; readonly dk: number; readonly dv: number };

function shapeOf(q: readonly number[], v: readonly number[]): RetentionShape {
  const [batch, heads, len, dk] = q as [number, number, number, number];
  return { batch, heads, len, dk, dv: v[3]! };
}

const range = (n: number) => [...Array(n).keys()];

/**
 * Per-head tables log γ and 1 / (1 - γ) (from float64), and 1/sqrt(c_p) at absolute position p
 * from the closed form c_p = (1 - γ^(p+1)) / (1 - γ). There is no expm1 on every target, and
 * 1 - exp(x) loses most digits for x near 0 (small p with γ near 1), so it is a Taylor series there.
 */
function decay(k: KernelBuilder, gammas: readonly number[]) {
  const g = gammas.map(Math.fround);
  const logG = k.constArray("LOG_G", "f32", g.map((x) => Math.log(x)));
  const invOneMinusG = k.constArray("INV_ONE_MINUS_G", "f32", g.map((x) => 1 / (1 - x)));
  const oneMinusExp = (x: Val<"f32">): Val<"f32"> => {
    const series = x.neg().mul(f32(1).add(x.mul(f32(0.5).add(x.mul(f32(1 / 6).add(x.mul(f32(1 / 24).add(x.mul(f32(1 / 120).add(x.mul(1 / 720)))))))))));
    return k.let("ome", select(x.gt(-0.25), series, f32(1).sub(exp(x))));
  };
  const invSqrtScale = (h: Val<"u32">, p: Val<"u32">): Val<"f32"> =>
    k.let("inv_scale", inverseSqrt(oneMinusExp(k.let("ome_x", p.add(1).f32().mul(logG.at(h)))).mul(invOneMinusG.at(h))));
  return { logG, invSqrtScale };
}

type RowsSpec = RetentionShape & { readonly gammas: readonly number[]; readonly start: number; readonly chunk: number; readonly rowNormalize: boolean };

/**
 * One invocation per (b, h, column block, t): y[b, t, h, block] = Σ_s score_ts v_s[block] over keys
 * s from the window start to t, score_ts = (q_t · k_s) γ^(t-s) / sqrt(c_(start+t)). With
 * `rowNormalize`, divided by max(1, min(5e4, Σ_s |score_ts|)) (the official parallel form's row
 * divisor, summed in the same loop). `chunk` 0 means the whole prefix (parallel).
 */
const retentionRows = defineKernel("retention.rows", (k, spec: RowsSpec) => {
  const { batch, heads, len, dk, dv } = spec;
  const q = k.input("q", "f32");
  const kk = k.input("k", "f32");
  const v = k.input("v", "f32");
  const y = k.output("y", "f32");
  const blocks = Math.ceil(dv / MAX_COLUMNS);
  const width = Math.ceil(dv / blocks);
  const ragged = dv % width !== 0;
  const { logG, invSqrtScale } = decay(k, spec.gammas);
  const i = elementIndex(k);
  guard(k, i, batch * heads * blocks * len);
  const t = k.let("t", i.rem(len));
  const rest = k.let("rest", i.div(len));
  const col0 = k.let("col0", rest.rem(blocks).mul(width));
  const bh = k.let("bh", rest.div(blocks));
  const h = k.let("h", bh.rem(heads));
  const row0 = k.let("row0", bh.mul(len));
  const logg = k.let("log_g", logG.at(h));
  const qs = k.let("qs", row0.add(t).mul(dk));
  const qd = range(dk).map((d) => k.let(`q${d}`, q.at(qs.add(d))));
  const acc = range(width).map((c) => k.var(`acc${c}`, "f32", 0));
  const absSum = k.var("abs_sum", "f32", 0);
  const columns = (line: (c: number) => void) =>
    range(width).forEach((c) => (ragged ? k.if(col0.add(c).lt(dv), () => line(c)) : line(c)));
  const windowStart = spec.chunk ? k.let("s_start", t.div(spec.chunk).mul(spec.chunk)) : u32(0);
  k.for("s", windowStart, (s) => s.le(t), (s) => s.add(1), (s) => {
    const ks = k.let("ks", row0.add(s).mul(dk));
    const dot = k.let("dot", qd.map((qv, d) => qv.mul(kk.at(ks.add(d)))).reduce((x, y2) => x.add(y2)));
    const score = k.let("score", dot.mul(exp(t.sub(s).f32().mul(logg))));
    absSum.set(absSum.add(score.abs()));
    const vs = k.let("vs", row0.add(s).mul(dv).add(col0));
    columns((c) => acc[c]!.set(acc[c]!.add(score.mul(v.at(vs.add(c))))));
  });
  const scale = invSqrtScale(h, t.add(spec.start));
  const f = k.let("f", spec.rowNormalize ? scale.div(f32(1).max(f32(50000).min(absSum.mul(scale)))) : scale);
  const ys = k.let("ys", bh.div(heads).mul(len).add(t).mul(heads).add(h).mul(dv).add(col0));
  columns((c) => y.set(ys.add(c), acc[c]!.mul(f)));
});

function rowsDispatch(shape: RetentionShape, gammas: readonly number[], options: { start: number; chunk: number; rowNormalize: boolean }): Dispatch {
  const blocks = Math.ceil(shape.dv / MAX_COLUMNS);
  const n = shape.batch * shape.heads * blocks * shape.len;
  return { program: retentionRows.specialize({ ...shape, gammas, ...options }), groups: elementGrid(n), inputs: [0, 1, 2] };
}

type CarriedSpec = RetentionShape & { readonly gammas: readonly number[]; readonly chunk: number; readonly start: number };

/**
 * The chunkwise form's cross-chunk part, added to the rows kernel's intra-chunk output: one
 * invocation per (b, h, value column j) carries column j of the unnormalised state
 * S = Σ γ^(age) k_sᵀ v_s in registers from chunk to chunk, adds γ^(a+1) q_t · S[:, j] / sqrt(c_(start+t))
 * to every query t at offset a of a later chunk, then folds the chunk's keys in:
 * S ← γ^C S + Σ γ^(C-1-a) k_sᵀ v_s.
 */
const retentionCarried = defineKernel("retention.carried", (k, spec: CarriedSpec) => {
  const { batch, heads, len, dk, dv, chunk } = spec;
  const q = k.input("q", "f32");
  const kk = k.input("k", "f32");
  const v = k.input("v", "f32");
  const y: Memory<"f32"> = k.output("y", "f32");
  const { logG, invSqrtScale } = decay(k, spec.gammas);
  const i = elementIndex(k);
  guard(k, i, batch * heads * dv);
  const j = k.let("j", i.rem(dv));
  const bh = k.let("bh", i.div(dv));
  const h = k.let("h", bh.rem(heads));
  const row0 = k.let("row0", bh.mul(len));
  const logg = k.let("log_g", logG.at(h));
  const chunkDecay = k.let("chunk_decay", exp(f32(chunk).mul(logg)));
  const st = range(dk).map((d) => k.var(`st${d}`, "f32", 0));
  k.range("c0", 0, len, (c0) => {
    const c1 = k.let("c1", c0.add(chunk).min(len));
    k.if(c0.gt(0), () =>
      k.range("t", c0, c1, (t) => {
        const qs = k.let("qs", row0.add(t).mul(dk));
        const dot = k.let("dot", st.map((sd, d) => q.at(qs.add(d)).mul(sd)).reduce((a, b) => a.add(b)));
        const yi = k.let("yi", bh.div(heads).mul(len).add(t).mul(heads).add(h).mul(dv).add(j));
        y.set(yi, y.at(yi).add(dot.mul(exp(t.sub(c0).add(1).f32().mul(logg))).mul(invSqrtScale(h, t.add(spec.start)))));
      }),
    );
    k.if(c1.lt(len), () => {
      for (const sd of st) sd.set(sd.mul(chunkDecay));
      k.range("s", c0, c1, (s) => {
        const w = k.let("w", exp(c0.add(chunk - 1).sub(s).f32().mul(logg)).mul(v.at(row0.add(s).mul(dv).add(j))));
        const ks = k.let("ks", row0.add(s).mul(dk));
        st.forEach((sd, d) => sd.set(sd.add(w.mul(kk.at(ks.add(d))))));
      });
    });
  }, chunk);
});

/** retnet.parallelRetention: every key up to the query, with the official row divisor if asked. */
export const parallelRetentionNode: KernelFactory = (node, [q, , v]) => ({
  dispatches: [rowsDispatch(shapeOf(q!.shape, v!.shape), node.attrs.gammas as readonly number[], { start: 0, chunk: 0, rowNormalize: node.attrs.rowNormalize === true })],
});

/** retnet.chunkwiseRetention: the query's own chunk, then (past the first chunk) the carried state. */
export const chunkwiseRetentionNode: KernelFactory = (node, [q, , v]) => {
  const gammas = node.attrs.gammas as readonly number[];
  const start = node.attrs.start as number;
  const shape = shapeOf(q!.shape, v!.shape);
  const chunk = Math.min(node.attrs.chunkSize as number, shape.len);
  const intra = rowsDispatch(shape, gammas, { start, chunk, rowNormalize: false });
  if (chunk >= shape.len) return { dispatches: [intra] };
  const carried: Dispatch = { program: retentionCarried.specialize({ ...shape, gammas, chunk, start }), groups: elementGrid(shape.batch * shape.heads * shape.dv), inputs: [0, 1, 2] };
  return { dispatches: [intra, carried] };
};
