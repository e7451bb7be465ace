import { ShapeError } from "../errors.js";
import type { SymTensor, TensorLike } from "../graph/symbolic.js";
import { broadcastShapes, formatShape } from "../tensor/shape.js";
import { emitOn, expectArity, expectFloat, expectSameDType, input, sumToShape } from "./helpers.js";
import { defineOp, type TypeInfo } from "./registry.js";

/** Batched matrix product [..., M, K] x [..., K, N] -> [..., M, N], batch dims broadcast. */
export const MATMUL = defineOp({
  name: "matmul",
  kind: "primitive",
  doc: "batched matrix product [..., M, K] @ [..., K, N] with broadcast batch dims",
  infer: (inputs: readonly TypeInfo[]) => {
    expectArity(inputs, 2, "matmul");
    const a = input(inputs, 0, "matmul");
    const b = input(inputs, 1, "matmul");
    expectFloat(a, "matmul");
    expectSameDType(a, b, "matmul");
    if (a.shape.length < 2 || b.shape.length < 2) {
      throw new ShapeError(`matmul: both operands need rank >= 2, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
    }
    const [m, k] = a.shape.slice(-2) as [number, number];
    const [k2, n] = b.shape.slice(-2) as [number, number];
    if (k !== k2) throw new ShapeError(`matmul: inner dimensions differ: ${formatShape(a.shape)} @ ${formatShape(b.shape)} (${k} vs ${k2})`);
    const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2), "matmul");
    return { shape: [...batch, m, n], dtype: a.dtype };
  },
  grad: ({ grad, inputs: [a, b] }) => [sumToShape(grad.matmul(b!.transpose()), a!.shape), sumToShape(a!.transpose().matmul(grad), b!.shape)],
});

export const matmul = (a: TensorLike, b: TensorLike): SymTensor => emitOn(MATMUL, [a, b]);
