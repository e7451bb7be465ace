import { ops, type SymTensor } from "@densessm/core";

export interface SelectiveScanInputs {
  /** Δ [B, T, E] (already softplus-ed, bias included). */
  readonly delta: SymTensor;
  /** A [E, N] (negative). */
  readonly A: SymTensor;
  /** B [B, T, N]. */
  readonly B: SymTensor;
  /** x [B, T, E]. */
  readonly x: SymTensor;
  /** h_0 [B, E, N]; zeros when absent. */
  readonly h0?: SymTensor | undefined;
}

/**
 * The selective scan's recurrence over T tokens (`selective_scan_ref` in state-spaces/mamba,
 * without the read-out), returning every hidden state h [B, T, E, N]:
 *
 *   h_t = exp(Δ_t A) ⊙ h_(t−1) + (Δ_t x_t) B_t
 *
 * Zero-order-hold for A, Euler for B, as the official reference does. The recurrence itself is
 * core's `scan` primitive along T, so each backend runs it with its own kernel. The caller bounds
 * memory by choosing T (see the model's chunked full-sequence form): this materialises B·T·E·N.
 */
export function selectiveScan({ delta, A, B, x, h0 }: SelectiveScanInputs): SymTensor {
  const dA = delta.unsqueeze(-1).mul(A).exp(); // [B, T, E, N]
  const dBx = delta.mul(x).unsqueeze(-1).mul(B.unsqueeze(2)); // [B, T, E, N]
  return ops.scan(dA, dBx, { axis: 1, ...(h0 ? { h0 } : {}) });
}
