import { defineOp, DTypeError, formatShape, isFloat, sameShape, ShapeError, type CompositeOpDef, type SymTensor, type TypeInfo } from "@densessm/core";

/**
 * The dense connection's step as one graph node: `current + Σ_i gate ⊙ shallow_i`, the selective
 * transition with identity projection (φ(h) = gate ⊙ h, one gate for every shallow state) followed
 * by add-fusion. A backend may run it as a single elementwise kernel over all its inputs; the
 * decomposition adds the gated states to `current` one at a time, in order.
 */
export const DENSE_FUSION = defineOp({
  name: "fusion.denseFusion",
  kind: "composite",
  doc: "current + Σ_i gate ⊙ shallow_i over float tensors of one shape",
  infer: (inputs: readonly TypeInfo[]) => {
    const [current, gate] = inputs;
    if (!current || !gate || inputs.length < 3) throw new ShapeError(`fusion.denseFusion: expected current, gate and at least one shallow state, got ${inputs.length} inputs`);
    for (const t of inputs) {
      if (!isFloat(t.dtype) || t.dtype !== current.dtype) throw new DTypeError(`fusion.denseFusion: every input must have current's float dtype (${current.dtype}), got ${t.dtype}`);
      if (!sameShape(t.shape, current.shape)) throw new ShapeError(`fusion.denseFusion: every input must have current's shape ${formatShape(current.shape)}, got ${formatShape(t.shape)}`);
    }
    return current;
  },
  decompose: ([current, gate, ...shallow]) => shallow.reduce((acc, h) => acc.add(gate!.mul(h)), current!),
} satisfies CompositeOpDef);

/** current + Σ_i gate ⊙ shallow_i (see DENSE_FUSION); every tensor has current's shape. */
export function denseFusion(current: SymTensor, gate: SymTensor, shallow: readonly SymTensor[]): SymTensor {
  return current.builder.emit(DENSE_FUSION, [current, gate, ...shallow]);
}
