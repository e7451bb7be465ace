import type { DispatchSpec, KernelFactory } from "./types.js";
import { bindings, elementGrid, elementwiseMain, f32Lit, u32Lit } from "./wgsl.js";

// Single kernels for @densessm/retnet's retention ops, keyed by op name and attrs (this package
// does not import retnet). q, k: [B, H, L, dk], v: [B, H, L, dv] → y: [B, L, H, dv], with
//     y[b, t, h] = Σ_s (q_t · k_s) γ_h^(t-s) v_s / sqrt(c_(start+t)),   c_p = Σ_{j≤p} γ^j,
// over s ≤ t (parallel) or s in t's chunk plus a carried state (chunkwise). The decay is computed
// in the kernel from per-head constants, so no [H, L, L] mask is read and no [L, L] scores are
// stored. The kernels have no workgroup memory and no barriers (costly on software adapters): one
// thread per output row reads keys and values straight from storage, which neighbouring threads
// (the next rows) read at the same time.

/** Output columns one thread accumulates in a private array; wider values are split in column blocks. */
const MAX_COLUMNS = 64;

interface RetentionShape {
  readonly batch: number;
  readonly heads: number;
  readonly len: number;
  readonly dk: number;
  readonly dv: number;
}

function shapeOf(q: readonly number[], v: readonly number[]): RetentionShape {
  const [batch, heads, len, dk] = q as [number, number, number, number];
  return { batch, heads, len, dk, dv: v[3]! };
}

/**
 * Per-head constants log γ and 1 / (1 - γ) (from float64), and 1/sqrt(c_p) at absolute position p
 * from the closed form c_p = (1 - γ^(p+1)) / (1 - γ). WGSL has no expm1, and 1 - exp(x) loses most
 * digits for x near 0 (small p with γ near 1), so it is a Taylor series there.
 */
function decayFunctions(gammas: readonly number[]): string {
  const g = gammas.map(Math.fround);
  const list = (f: (x: number) => number) => `array<f32, ${g.length}>(${g.map((x) => f32Lit(Math.fround(f(x)))).join(", ")})`;
  return `const LOG_G = ${list(Math.log)};
const INV_ONE_MINUS_G = ${list((x) => 1 / (1 - x))};
fn one_minus_exp(x: f32) -> f32 {
  if (x > -0.25) { return -x * (1.0 + x * (0.5 + x * (${f32Lit(1 / 6)} + x * (${f32Lit(1 / 24)} + x * (${f32Lit(1 / 120)} + x * ${f32Lit(1 / 720)}))))); }
  return 1.0 - exp(x);
}
fn inv_sqrt_scale(h: u32, p: u32) -> f32 {
  return inverseSqrt(one_minus_exp(f32(p + 1u) * LOG_G[h]) * INV_ONE_MINUS_G[h]);
}`;
}

/**
 * `line(i)` for i = 0..count-1, joined. The kernels unroll their loops over a head's key width and
 * a thread's output columns: private arrays indexed by a loop variable are slow on software
 * adapters (a per-lane gather: 2-5x here), and GPUs keep constant-indexed ones in registers.
 */
const unrolled = (count: number, line: (i: number) => string, join = "\n"): string => Array.from({ length: count }, (_, i) => line(i)).join(join);

const QKV = [{ name: "q", type: "f32" as const }, { name: "k", type: "f32" as const }, { name: "v", type: "f32" as const }];

/**
 * One thread per (b, h, column block, t): y[b, t, h, block] = Σ_s score_ts v_s[block] over keys s
 * from `windowStart(t)` to t, score_ts = (q_t · k_s) γ^(t-s) / sqrt(c_(start+t)). With
 * `rowNormalize`, divided by max(1, min(5e4, Σ_s |score_ts|)) (the official parallel form's row
 * divisor, summed in the same loop).
 */
function rowsDispatch(shape: RetentionShape, gammas: readonly number[], options: { start: number; chunk?: number; rowNormalize: boolean }): DispatchSpec {
  const { batch, heads, len, dk, dv } = shape;
  const blocks = Math.ceil(dv / MAX_COLUMNS);
  const width = Math.ceil(dv / blocks);
  const n = batch * heads * blocks * len;
  const windowStart = options.chunk === undefined ? "0u" : `(t / ${u32Lit(options.chunk)}) * ${u32Lit(options.chunk)}`;
  const ragged = dv % width !== 0;
  const columns = (line: (c: number) => string) => unrolled(width, (c) => (ragged ? `    if (col0 + ${c}u < DV) { ${line(c)} }` : `    ${line(c)}`));
  const body = `  let t = i % L;
  let rest = i / L;
  let col0 = (rest % ${u32Lit(blocks)}) * ${u32Lit(width)};
  let bh = rest / ${u32Lit(blocks)};
  let h = bh % H;
  let row0 = bh * L;
  let log_g = LOG_G[h];
  let qs = (row0 + t) * DK;
${unrolled(dk, (d) => `  let q${d} = q[qs + ${d}u];`)}
  var acc: array<f32, ${width}>;
  var abs_sum = 0.0;
  for (var s = ${windowStart}; s <= t; s++) {
    let ks = (row0 + s) * DK;
    let dot = ${unrolled(dk, (d) => `q${d} * k[ks + ${d}u]`, " + ")};
    let score = dot * exp(f32(t - s) * log_g);
    abs_sum += abs(score);
    let vs = (row0 + s) * DV + col0;
${columns((c) => `acc[${c}] += score * v[vs + ${c}u];`)}
  }
  let scale = inv_sqrt_scale(h, ${u32Lit(options.start)} + t);
  let f = ${options.rowNormalize ? "scale / max(1.0, min(50000.0, abs_sum * scale))" : "scale"};
  let ys = (((bh / H) * L + t) * H + h) * DV + col0;
${columns((c) => `y[ys + ${c}u] = acc[${c}] * f;`)}`;
  const code = `${bindings(QKV, { name: "y", type: "f32" })}
const L = ${u32Lit(len)};
const H = ${u32Lit(heads)};
const DK = ${u32Lit(dk)};
const DV = ${u32Lit(dv)};
${decayFunctions(gammas)}
${elementwiseMain(n, body)}`;
  return { code, groups: elementGrid(n), inputs: [0, 1, 2] };
}

/**
 * The chunkwise form's cross-chunk part, added to the rows dispatch's intra-chunk output: one
 * thread per (b, h, value column j) carries column j of the unnormalised state S = Σ γ^(age) k_sᵀ v_s
 * in a private array from chunk to chunk, adds γ^(a+1) q_t · S[:, j] / sqrt(c_(start+t)) to every
 * query t at offset a of a later chunk, then folds the chunk's keys in: S ← γ^C S + Σ γ^(C-1-a) k_sᵀ v_s.
 */
function carriedStateDispatch(shape: RetentionShape, gammas: readonly number[], chunk: number, start: number): DispatchSpec {
  const { batch, heads, len, dk, dv } = shape;
  const n = batch * heads * dv;
  const body = `  let j = i % DV;
  let bh = i / DV;
  let h = bh % H;
  let row0 = bh * L;
  let log_g = LOG_G[h];
  let chunk_decay = exp(${f32Lit(chunk)} * log_g);
  var st: array<f32, ${dk}>;
  for (var c0 = 0u; c0 < L; c0 += C) {
    let c1 = min(c0 + C, L);
    if (c0 > 0u) {
      for (var t = c0; t < c1; t++) {
        let qs = (row0 + t) * DK;
        let dot = ${unrolled(dk, (d) => `q[qs + ${d}u] * st[${d}]`, " + ")};
        let yi = (((bh / H) * L + t) * H + h) * DV + j;
        y[yi] += dot * exp(f32(t - c0 + 1u) * log_g) * inv_sqrt_scale(h, ${u32Lit(start)} + t);
      }
    }
    if (c1 < L) {
${unrolled(dk, (d) => `      st[${d}] *= chunk_decay;`)}
      for (var s = c0; s < c1; s++) {
        let w = exp(f32(c0 + C - 1u - s) * log_g) * v[(row0 + s) * DV + j];
        let ks = (row0 + s) * DK;
${unrolled(dk, (d) => `        st[${d}] += w * k[ks + ${d}u];`)}
      }
    }
  }`;
  const code = `${bindings(QKV, { name: "y", type: "f32" })}
const L = ${u32Lit(len)};
const H = ${u32Lit(heads)};
const C = ${u32Lit(chunk)};
const DK = ${u32Lit(dk)};
const DV = ${u32Lit(dv)};
${decayFunctions(gammas)}
${elementwiseMain(n, body)}`;
  return { code, groups: elementGrid(n), inputs: [0, 1, 2] };
}

/** retnet.parallelRetention: every key up to the query, with the official row divisor if asked. */
export const parallelRetentionKernel: KernelFactory = (node, [q, , v]) => {
  const gammas = node.attrs.gammas as readonly number[];
  return { dispatches: [rowsDispatch(shapeOf(q!.shape, v!.shape), gammas, { start: 0, rowNormalize: node.attrs.rowNormalize === true })] };
};

/** retnet.chunkwiseRetention: the query's own chunk, then (past the first chunk) the carried state. */
export const chunkwiseRetentionKernel: KernelFactory = (node, [q, , v]) => {
  const gammas = node.attrs.gammas as readonly number[];
  const start = node.attrs.start as number;
  const shape = shapeOf(q!.shape, v!.shape);
  const chunk = Math.min(node.attrs.chunkSize as number, shape.len);
  const intra = rowsDispatch(shape, gammas, { start, chunk, rowNormalize: false });
  return { dispatches: chunk < shape.len ? [intra, carriedStateDispatch(shape, gammas, chunk, start)] : [intra] };
};
