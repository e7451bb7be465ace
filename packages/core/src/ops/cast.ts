import type { SymTensor, TensorLike } from "../graph/symbolic.js";
import { assertDType, isFloat, type DType } from "../tensor/dtype.js";
import { asSym, expectArity, input } from "./helpers.js";
import { defineOp, type TypeInfo } from "./registry.js";

/** Converts dtype. Float to int truncates toward zero; to float16/bfloat16 rounds to nearest even. */
export const CAST = defineOp({
  name: "cast",
  kind: "primitive",
  doc: "dtype conversion",
  infer: (inputs: readonly TypeInfo[], attrs: { dtype: string }) => {
    expectArity(inputs, 1, "cast");
    return { shape: input(inputs, 0, "cast").shape, dtype: assertDType(attrs.dtype, "cast") };
  },
  grad: ({ grad, inputs: [x] }) => [isFloat(x!.dtype) && isFloat(grad.dtype) ? cast(grad, x!.dtype) : undefined],
});

export function cast(x: TensorLike, dtype: DType): SymTensor {
  const s = asSym(x);
  return s.dtype === dtype ? s : s.builder.emit(CAST, [s], { dtype });
}
