import { defineOp, DTypeError, isFloat, ops, ShapeError, type CompositeOpDef, type SymTensor, type TypeInfo } from "@densessm/core";

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
 * The selective scan's recurrence as one composite op, `mamba.selectiveScan`: a backend with a
 * kernel for it makes one pass over the [E, N] states per token (read h, write h) where the
 * decomposition makes five (Δ·A, exp, Δ·x·B, and the scan's multiply-add), each through a
 * [B, T, E, N] temporary. At decoding time that is most of a small Mamba's step.
 *   delta [B, T, E], A [E, N], B [B, T, N], x [B, T, E], optional h0 [B, E, N]  →  h [B, T, E, N]
 */
export const SELECTIVE_SCAN = defineOp({
  name: "mamba.selectiveScan",
  kind: "composite",
  doc: "Mamba's selective scan h_t = exp(Δ_t A) h_(t-1) + Δ_t x_t B_t of delta [B, T, E], A [E, N], B [B, T, N], x [B, T, E] and optional h0 [B, E, N] → h [B, T, E, N]",
  infer: (inputs: readonly TypeInfo[]) => {
    const op = "mamba.selectiveScan";
    if (inputs.length !== 4 && inputs.length !== 5) throw new ShapeError(`${op}: expected delta, A, B, x and optionally h0, got ${inputs.length} inputs`);
    const [delta, A, B, x, h0] = inputs as [TypeInfo, TypeInfo, TypeInfo, TypeInfo, TypeInfo | undefined];
    for (const t of inputs) if (!isFloat(t.dtype) || t.dtype !== delta.dtype) throw new DTypeError(`${op}: every input must share one float dtype, got ${inputs.map((i) => i.dtype).join(", ")}`);
    const [b, t, e] = delta.shape;
    const n = A.shape[1];
    const ok =
      delta.shape.length === 3 && A.shape.length === 2 && B.shape.length === 3 && x.shape.length === 3 &&
      A.shape[0] === e && [b, t, n].every((d, i) => B.shape[i] === d) && [b, t, e].every((d, i) => x.shape[i] === d) &&
      (!h0 || (h0.shape.length === 3 && [b, e, n].every((d, i) => h0.shape[i] === d)));
    if (!ok) {
      const shapes = inputs.map((i) => `[${i.shape.join(", ")}]`).join(", ");
      throw new ShapeError(`${op}: expected delta [B, T, E], A [E, N], B [B, T, N], x [B, T, E] and h0 [B, E, N], got ${shapes}`);
    }
    return { shape: [b!, t!, e!, n!], dtype: delta.dtype };
  },
  // Zero-order hold for A, Euler for B, as state-spaces/mamba's selective_scan_ref does. The
  // recurrence is core's `scan` primitive along T, so every backend runs it with its own kernel.
  decompose: ([delta, A, B, x, h0]) => {
    const dA = delta!.unsqueeze(-1).mul(A!).exp(); // [B, T, E, N]
    const dBx = delta!.mul(x!).unsqueeze(-1).mul(B!.unsqueeze(2)); // [B, T, E, N]
    return ops.scan(dA, dBx, { axis: 1, ...(h0 ? { h0 } : {}) });
  },
} satisfies CompositeOpDef);

/**
 * The selective scan's recurrence over T tokens (`selective_scan_ref` in state-spaces/mamba,
 * without the read-out), returning every hidden state h [B, T, E, N]:
 *
 *   h_t = exp(Δ_t A) ⊙ h_(t−1) + (Δ_t x_t) B_t
 *
 * The caller bounds memory by choosing T (see the model's chunked full-sequence form): this
 * materialises B·T·E·N.
 */
export function selectiveScan({ delta, A, B, x, h0 }: SelectiveScanInputs): SymTensor {
  return delta.builder.emit(SELECTIVE_SCAN, h0 ? [delta, A, B, x, h0] : [delta, A, B, x], {});
}
