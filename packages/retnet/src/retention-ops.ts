import { DenseSSMError, defineOp, DTypeError, isFloat, ops, ShapeError, Tensor, type CompositeOpDef, type GraphBuilder, type SymTensor, type TypeInfo } from "@densessm/core";
import { parallelDecayMask, runningScale } from "./positions.js";

// The parallel and chunkwise forms of multi-scale retention as composite ops: one graph node per
// layer that a backend may run as a single kernel computing the decay from `gammas` itself; every
// other backend gets the decomposition below, which is the reference numerics.
//   q, k: [B, H, L, dk] (already theta-shifted), v: [B, H, L, dv]  →  [B, L, H, dv]
// (heads next to their values, ready for the per-head group norm). With decay γ_h and running
// scale c_t = Σ_{j≤t} γ^j, both compute
//     o_t = q_t · Σ_{s≤t} γ^(t-s) k_sᵀ v_s / sqrt(c_t)
// and the parallel form additionally divides each score row by max(1, min(5e4, Σ_s |score_ts|))
// (detached), as the official code does. That divisor is one positive number per (b, h, t), which the
// per-head RMS group norm that follows removes, so the forms agree after the group norm.

export type ParallelRetentionAttrs = { readonly gammas: readonly number[]; readonly rowNormalize: boolean };
/** `start`: the absolute position of the first token, which sets the running scale c_t. */
export type ChunkwiseRetentionAttrs = { readonly gammas: readonly number[]; readonly chunkSize: number; readonly start: number };

/** Checks q, k [B, H, L, dk], v [B, H, L, dv] and one decay in (0, 1) per head; returns [B, L, H, dv]. */
function inferRetention(op: string, inputs: readonly TypeInfo[], gammas: readonly number[]): TypeInfo {
  if (inputs.length !== 3) throw new ShapeError(`${op}: expected q, k and v, got ${inputs.length} inputs`);
  const [q, k, v] = inputs as [TypeInfo, TypeInfo, TypeInfo];
  for (const t of inputs) if (!isFloat(t.dtype) || t.dtype !== q.dtype) throw new DTypeError(`${op}: q, k and v must share one float dtype, got ${inputs.map((x) => x.dtype).join(", ")}`);
  const [b, h, len] = q.shape;
  const ok = q.shape.length === 4 && k.shape.length === 4 && v.shape.length === 4 && k.shape.every((d, i) => d === q.shape[i]) && v.shape.slice(0, 3).every((d, i) => d === q.shape[i]);
  if (!ok) throw new ShapeError(`${op}: expected q, k [B, H, L, dk] and v [B, H, L, dv], got [${q.shape.join(", ")}], [${k.shape.join(", ")}], [${v.shape.join(", ")}]`);
  if (gammas.length !== h) throw new ShapeError(`${op}: ${gammas.length} decays for ${h} heads`);
  // Both forms compute in float32, where a decay that rounds to 1 would make 1 - γ zero.
  if (!gammas.every((g) => g > 0 && Math.fround(g) < 1)) throw new DenseSSMError(`${op}: every decay must lie in (0, 1) as a float32, got [${gammas.join(", ")}]`);
  return { shape: [b!, len!, h!, v.shape[3]!], dtype: q.dtype };
}

/** abs(x) = max(x, -x): the op set has no abs primitive. */
function abs(x: SymTensor): SymTensor {
  return x.maximum(x.neg());
}

let lastMask: { key: string; mask: WeakRef<Tensor> } | undefined;

/**
 * parallelDecayMask, remembering the last one built: the layers of a model ask for the same mask in
 * turn, and an O(H·L²) table is worth building once (the graph then holds it once, as it holds any
 * repeated constant). Held weakly, so it lives no longer than the graphs that use it.
 */
function decayMask(gammas: readonly number[], len: number): Tensor {
  const key = `${gammas.join(",")}:${len}`;
  const cached = lastMask?.key === key ? lastMask.mask.deref() : undefined;
  if (cached) return cached;
  const mask = parallelDecayMask(gammas, len);
  lastMask = { key, mask: new WeakRef(mask) };
  return mask;
}

/** Parallel form with the official decay mask D[h, t, s] = γ_h^(t-s) / sqrt(c_t) (see parallelDecayMask). */
export const PARALLEL_RETENTION = defineOp({
  name: "retnet.parallelRetention",
  kind: "composite",
  doc: "parallel retention of q, k [B, H, L, dk] and v [B, H, L, dv] with per-head decays → [B, L, H, dv]",
  infer: (inputs: readonly TypeInfo[], attrs: ParallelRetentionAttrs) => inferRetention("retnet.parallelRetention", inputs, attrs.gammas),
  decompose: ([q, k, v], { gammas, rowNormalize }: ParallelRetentionAttrs) => {
    const len = q!.dim(2);
    const mask = q!.builder.constant(decayMask(gammas, len)); // one node, shared by every layer
    const scores = q!.matmul(k!.transpose(-1, -2)).mul(mask);
    if (!rowNormalize) return scores.matmul(v!).transpose(1, 2);
    const rowAbs = abs(scores).stopGradient().sum(-1, true);
    const divisor = rowAbs.maximum(1).neg().maximum(-5e4).neg();
    return scores.div(divisor).matmul(v!).transpose(1, 2);
  },
} satisfies CompositeOpDef<ParallelRetentionAttrs>);

/**
 * The chunkwise form's decay constants for chunks of `c` tokens over `padded` positions from
 * `start`, as constant nodes (which every layer with the same decays shares).
 */
function chunkwiseConstants(builder: GraphBuilder, gammas: readonly number[], c: number, padded: number, start: number) {
  const h = gammas.length;
  const inner = new Float32Array(h * c * c);
  const keyDecay = new Float32Array(h * c); // γ^(C-1-b): how much key b has decayed by the chunk's end
  const queryDecay = new Float32Array(h * c); // γ^(a+1): decay from the previous chunk's end to query a
  const chunkDecay = new Float32Array(h);
  const outScale = new Float32Array(h * padded); // 1/sqrt(c_t)
  gammas.forEach((g, i) => {
    const gf = Math.fround(g);
    for (let a = 0; a < c; a++) {
      for (let j = 0; j <= a; j++) inner[(i * c + a) * c + j] = Math.pow(gf, a - j);
      keyDecay[i * c + a] = Math.pow(gf, c - 1 - a);
      queryDecay[i * c + a] = Math.pow(gf, a + 1);
    }
    chunkDecay[i] = Math.pow(gf, c);
    for (let t = 0; t < padded; t++) outScale[i * padded + t] = 1 / Math.sqrt(runningScale(gf, start + t));
  });
  const n = padded / c;
  const constant = (data: Float32Array, shape: number[]) => builder.constant(new Tensor(data, shape, "float32"));
  return {
    inner: constant(inner, [h, 1, c, c]),
    keyDecay: constant(keyDecay, [h, 1, c, 1]),
    queryDecay: constant(queryDecay, [h, 1, c, 1]),
    chunkDecay: constant(chunkDecay, [h, 1, 1, 1]),
    outScale: constant(outScale, [h, n, c, 1]),
  };
}

/**
 * Chunkwise recurrent form, derived from the parallel one: within a chunk of C tokens the parallel
 * decay mask (unnormalised, γ^(a-b)); across chunks an unnormalised state carried with γ^C by a scan
 * over chunks. Both parts are scaled by 1/sqrt(c_t) at the absolute position t = start + n·C + a.
 * O(L·C) time and O(L) memory. The sequence is zero-padded to a multiple of C; padded keys and
 * values are zero, so they add nothing, and padded outputs are dropped.
 */
export const CHUNKWISE_RETENTION = defineOp({
  name: "retnet.chunkwiseRetention",
  kind: "composite",
  doc: "chunkwise retention of q, k [B, H, L, dk] and v [B, H, L, dv] with per-head decays → [B, L, H, dv]",
  infer: (inputs: readonly TypeInfo[], attrs: ChunkwiseRetentionAttrs) => {
    const out = inferRetention("retnet.chunkwiseRetention", inputs, attrs.gammas);
    if (!Number.isInteger(attrs.chunkSize) || attrs.chunkSize < 1) throw new DenseSSMError(`retnet.chunkwiseRetention: chunk size must be a positive integer, got ${attrs.chunkSize}`);
    if (!Number.isInteger(attrs.start) || attrs.start < 0) throw new DenseSSMError(`retnet.chunkwiseRetention: start must be a non-negative integer, got ${attrs.start}`);
    return out;
  },
  decompose: ([qr, kr, v], { gammas, chunkSize, start }: ChunkwiseRetentionAttrs) => {
    const [b, h, len, dk] = qr!.shape as [number, number, number, number];
    const dv = v!.dim(-1);
    const c = Math.min(chunkSize, len);
    const n = Math.ceil(len / c);
    const padded = n * c;
    const pad = (x: SymTensor) => (padded === len ? x : ops.padAxis(x, 2, 0, padded - len));
    const q = pad(qr!).reshape([b, h, n, c, dk]);
    const k = pad(kr!).reshape([b, h, n, c, dk]);
    const vv = pad(v!).reshape([b, h, n, c, dv]);
    const constants = chunkwiseConstants(q.builder, gammas, c, padded, start);

    const innerOut = q.matmul(k.transpose(-1, -2)).mul(constants.inner).matmul(vv);
    const chunkKv = k.mul(constants.keyDecay).transpose(-1, -2).matmul(vv); // [B, H, N, dk, dv]
    let total = innerOut;
    if (n > 1) {
      const carried = ops.scan(constants.chunkDecay.expand([b, h, n, dk, dv]), chunkKv, { axis: 2 });
      const before = ops.padAxis(carried.slice(2, 0, n - 1), 2, 1, 0); // state entering each chunk
      total = total.add(q.mul(constants.queryDecay).matmul(before));
    }
    const out = total.mul(constants.outScale).reshape([b, h, padded, dv]);
    return (padded === len ? out : out.slice(2, 0, len)).transpose(1, 2);
  },
} satisfies CompositeOpDef<ChunkwiseRetentionAttrs>);

/**
 * One recurrent decoding step's state update, S' = carry · S + kᵀ v, as one node: the step's cost
 * (weights aside) is passes over the [dk, dv] states, and a backend's kernel makes one (read S,
 * write S') where the decomposition makes several. The output o = q · S' stays a matmul outside:
 * ops have one output.
 *   k: [B, H, 1, dk] (already scaled by the step's inject), v: [B, H, 1, dv], state: [B, H, dk, dv],
 *   carry: [B, H] (each row at its own position)  →  [B, H, dk, dv]
 */
export const RETENTION_STEP = defineOp({
  name: "retnet.retentionStep",
  kind: "composite",
  doc: "one recurrent retention step's state, carry [B, H] · state [B, H, dk, dv] + kᵀ v of k [B, H, 1, dk], v [B, H, 1, dv] → [B, H, dk, dv]",
  infer: (inputs: readonly TypeInfo[]) => {
    const op = "retnet.retentionStep";
    if (inputs.length !== 4) throw new ShapeError(`${op}: expected k, v, state and carry, got ${inputs.length} inputs`);
    const [k, v, state, carry] = inputs as [TypeInfo, TypeInfo, TypeInfo, TypeInfo];
    for (const t of inputs) if (!isFloat(t.dtype) || t.dtype !== k.dtype) throw new DTypeError(`${op}: k, v, state and carry must share one float dtype, got ${inputs.map((x) => x.dtype).join(", ")}`);
    const [b, h, , dk] = k.shape;
    const dv = v.shape[3];
    const ok =
      k.shape.length === 4 && v.shape.length === 4 && state.shape.length === 4 && carry.shape.length === 2 &&
      k.shape[2] === 1 && v.shape[0] === b && v.shape[1] === h && v.shape[2] === 1 &&
      [b, h, dk, dv].every((d, i) => state.shape[i] === d) && carry.shape[0] === b && carry.shape[1] === h;
    if (!ok) throw new ShapeError(`${op}: expected k [B, H, 1, dk], v [B, H, 1, dv], state [B, H, dk, dv] and carry [B, H], got [${k.shape.join(", ")}], [${v.shape.join(", ")}], [${state.shape.join(", ")}], [${carry.shape.join(", ")}]`);
    return state;
  },
  decompose: ([k, v, state, carry]) => {
    const [b, h] = carry!.shape as [number, number];
    return state!.mul(carry!.reshape([b, h, 1, 1])).add(k!.transpose(-1, -2).mul(v!));
  },
} satisfies CompositeOpDef);

/** Parallel retention (see PARALLEL_RETENTION); `rowNormalize` (default true) applies the official row divisor. */
export function parallelRetention(qr: SymTensor, kr: SymTensor, v: SymTensor, options: { gammas: readonly number[]; rowNormalize?: boolean }): SymTensor {
  return qr.builder.emit(PARALLEL_RETENTION, [qr, kr, v], { gammas: [...options.gammas], rowNormalize: options.rowNormalize ?? true });
}

/** Chunkwise retention (see CHUNKWISE_RETENTION) in chunks of `chunkSize` tokens, the first at position `start` (default 0). */
export function chunkwiseRetention(qr: SymTensor, kr: SymTensor, v: SymTensor, options: { gammas: readonly number[]; chunkSize: number; start?: number }): SymTensor {
  return qr.builder.emit(CHUNKWISE_RETENTION, [qr, kr, v], { gammas: [...options.gammas], chunkSize: options.chunkSize, start: options.start ?? 0 });
}

/** One recurrent step's next state (see RETENTION_STEP): carry · state + kᵀ v. */
export function retentionStep(k: SymTensor, v: SymTensor, state: SymTensor, carry: SymTensor): SymTensor {
  return k.builder.emit(RETENTION_STEP, [k, v, state, carry], {});
}
