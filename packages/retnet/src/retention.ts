import { ops, Tensor, type SymTensor } from "@densessm/core";
import { stopGradient } from "./detach.js";
import { runningScale } from "./positions.js";

// Multi-scale retention in three forms over the same inputs:
//   qr, kr: [B, H, L, dk] (already theta-shifted), v: [B, H, L, dv]; every form returns [B, L, H, dv].
// With decay γ_h and running scale c_t = Σ_{j≤t} γ^j, all three compute
//     o_t = q_t · Σ_{s≤t} γ^(t-s) k_sᵀ v_s / sqrt(c_t)
// and the parallel form additionally divides each score row by max(1, min(5e4, Σ_s |score_ts|))
// (detached), as the official code does. That divisor is one positive number per (b, h, t), which the
// per-head RMS group norm that follows removes, so the forms agree after the group norm.

/** abs(x) = max(x, -x): the op set has no abs primitive. */
function abs(x: SymTensor): SymTensor {
  return x.maximum(x.neg());
}

/** x·cos + rotate(x)·sin, where rotate maps each interleaved pair (a, b) to (-b, a). */
export function thetaShift(x: SymTensor, sin: SymTensor, cos: SymTensor): SymTensor {
  const shape = x.shape;
  const d = x.dim(-1);
  const pairs = x.reshape([...shape.slice(0, -1), d / 2, 2]);
  const rotated = ops.concat([pairs.slice(-1, 1, 2).neg(), pairs.slice(-1, 0, 1)], -1).reshape(shape);
  return x.mul(cos).add(rotated.mul(sin));
}

/** Parallel (training) form with the official decay mask [H, L, L] (see parallelDecayMask). */
export function parallelRetention(qr: SymTensor, kr: SymTensor, v: SymTensor, mask: SymTensor, rowNormalize = true): SymTensor {
  const scores = qr.matmul(kr.transpose(-1, -2)).mul(mask);
  if (!rowNormalize) return scores.matmul(v).transpose(1, 2);
  const rowAbs = stopGradient(abs(scores)).sum(-1, true);
  const divisor = rowAbs.maximum(1).neg().maximum(-5e4).neg();
  return scores.div(divisor).matmul(v).transpose(1, 2);
}

/**
 * Recurrent form as a scan over the sequence: S_t = carry_t S_(t-1) + inject_t k_tᵀ v_t (the
 * official running-scale bookkeeping, see recurrentFactors), o_t = q_t S_t. With L = 1 and a state
 * input this is the single-token decoding step. carry/inject: [L, H]; state: [B, H, dk, dv].
 */
export function recurrentRetention(
  qr: SymTensor,
  kr: SymTensor,
  v: SymTensor,
  carry: SymTensor,
  inject: SymTensor,
  state?: SymTensor,
): { out: SymTensor; state: SymTensor } {
  const [b, h, len, dk] = qr.shape as [number, number, number, number];
  const dv = v.dim(-1);
  const perStep = (f: SymTensor) => f.transpose(0, 1).reshape([h, len, 1, 1]);
  const kv = kr.unsqueeze(-1).mul(v.unsqueeze(-2)).mul(perStep(inject));
  const a = perStep(carry).expand([b, h, len, dk, dv]);
  const states = ops.scan(a, kv, { axis: 2, ...(state ? { h0: state } : {}) });
  const out = qr.unsqueeze(-2).matmul(states).reshape([b, h, len, dv]).transpose(1, 2);
  return { out, state: states.slice(2, len - 1, len).squeeze(2) };
}

/**
 * Chunkwise recurrent form, derived from the parallel one: within a chunk of C tokens the parallel
 * decay mask (unnormalised, γ^(a-b)); across chunks an unnormalised state carried with γ^C by a scan
 * over chunks. Both parts are scaled by 1/sqrt(c_t) at the absolute position t = start + n·C + a.
 * O(L·C) time and O(L) memory. The sequence is zero-padded to a multiple of C; padded keys and
 * values are zero, so they add nothing, and padded outputs are dropped.
 */
export function chunkwiseRetention(qr: SymTensor, kr: SymTensor, v: SymTensor, gammas: readonly number[], chunkSize: number, start = 0): SymTensor {
  const [b, h, len, dk] = qr.shape as [number, number, number, number];
  const dv = v.dim(-1);
  const c = Math.min(chunkSize, len);
  const n = Math.ceil(len / c);
  const padded = n * c;
  const pad = (x: SymTensor) => (padded === len ? x : ops.padAxis(x, 2, 0, padded - len));
  const q = pad(qr).reshape([b, h, n, c, dk]);
  const k = pad(kr).reshape([b, h, n, c, dk]);
  const vv = pad(v).reshape([b, h, n, c, dv]);

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
  const constant = (data: Float32Array, shape: number[]) => q.builder.constant(new Tensor(data, shape, "float32"));

  const innerOut = q.matmul(k.transpose(-1, -2)).mul(constant(inner, [h, 1, c, c])).matmul(vv);
  const chunkKv = k.mul(constant(keyDecay, [h, 1, c, 1])).transpose(-1, -2).matmul(vv); // [B, H, N, dk, dv]
  let total = innerOut;
  if (n > 1) {
    const carried = ops.scan(constant(chunkDecay, [h, 1, 1, 1]).expand([b, h, n, dk, dv]), chunkKv, { axis: 2 });
    const before = ops.padAxis(carried.slice(2, 0, n - 1), 2, 1, 0); // state entering each chunk
    total = total.add(q.mul(constant(queryDecay, [h, 1, c, 1])).matmul(before));
  }
  const out = total.mul(constant(outScale, [h, n, c, 1])).reshape([b, h, padded, dv]);
  return (padded === len ? out : out.slice(2, 0, len)).transpose(1, 2);
}
