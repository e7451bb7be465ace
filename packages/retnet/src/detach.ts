import { defineOp, type CompositeOpDef, type SymTensor, type TypeInfo } from "@densessm/core";

/**
 * Identity in the forward pass, no gradient in the backward pass (PyTorch's `.detach()`). The
 * official retention divides each row by a detached abs-sum, so its gradient ignores that divisor;
 * we reproduce that. The decomposition is the input itself, so every backend runs it.
 */
export const STOP_GRADIENT = defineOp({
  name: "retnet.stopGradient",
  kind: "composite",
  doc: "identity forward, zero gradient (detach)",
  infer: (inputs: readonly TypeInfo[]) => inputs[0]!,
  decompose: ([x]) => x!.add(0),
  grad: () => [undefined],
} satisfies CompositeOpDef);

export function stopGradient(x: SymTensor): SymTensor {
  return x.builder.emit(STOP_GRADIENT, [x]);
}
