import { ops, type SymTensor } from "@densessm/core";
import { retentionStep } from "./retention-ops.js";

// The pieces of multi-scale retention that are not ops of their own: the theta shift that rotates
// q and k, and the recurrent form (a scan, which is already one node; its one-token step is the
// retentionStep op). The parallel and chunkwise forms are composite ops (retention-ops.ts). All
// three forms return [B, L, H, dv].

/** x·cos + rotate(x)·sin, where rotate maps each interleaved pair (a, b) to (-b, a). */
export function thetaShift(x: SymTensor, sin: SymTensor, cos: SymTensor): SymTensor {
  const shape = x.shape;
  const d = x.dim(-1);
  const pairs = x.reshape([...shape.slice(0, -1), d / 2, 2]);
  const rotated = ops.concat([pairs.slice(-1, 1, 2).neg(), pairs.slice(-1, 0, 1)], -1).reshape(shape);
  return x.mul(cos).add(rotated.mul(sin));
}

/**
 * Recurrent form as a scan over the sequence: S_t = carry_t S_(t-1) + inject_t k_tᵀ v_t (the
 * official running-scale bookkeeping, see recurrentFactors), o_t = q_t S_t. With L = 1 and a state
 * input this is the single-token decoding step. carry/inject: [B, L, H] (each row at its own
 * positions); state: [B, H, dk, dv].
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
  const perStep = (f: SymTensor) => f.transpose(1, 2).reshape([b, h, len, 1]);
  // inject scales k (dk values) rather than the [dk, dv] outer product: one pass less over the state.
  const k = kr.mul(perStep(inject));
  if (len === 1 && state) {
    // One decoding step: a step's cost (weights aside) is passes over the [dk, dv] states, which
    // retentionStep makes once for S = carry S_prev + kᵀv where a backend has its kernel.
    const next = retentionStep(k, v, state, carry.reshape([b, h]));
    return { out: qr.matmul(next).transpose(1, 2), state: next };
  }
  const kv = k.unsqueeze(-1).mul(v.unsqueeze(-2));
  const a = perStep(carry).unsqueeze(-1).expand([b, h, len, dk, dv]);
  const states = ops.scan(a, kv, { axis: 2, ...(state ? { h0: state } : {}) });
  const out = qr.unsqueeze(-2).matmul(states).reshape([b, h, len, dv]).transpose(1, 2);
  return { out, state: states.slice(2, len - 1, len).squeeze(2) };
}
