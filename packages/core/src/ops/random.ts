import { DTypeError, ShapeError } from "../errors.js";
import type { SymTensor, TensorLike } from "../graph/symbolic.js";
import { assertValidShape, formatShape } from "../tensor/shape.js";
import { asSym, expectArity, input } from "./helpers.js";
import { defineOp, type TypeInfo } from "./registry.js";

/**
 * Uniform [0, 1) noise from a counter-based hash of (seed, element index): the same seed gives the
 * same bits on every backend, with no RNG state to carry between runs. The seed is an int32 scalar
 * input, so one compiled graph serves every training step. See `hashUniform` for the exact function
 * backends must reproduce.
 */
export const RAND = defineOp({
  name: "rand",
  kind: "primitive",
  doc: "uniform [0, 1) noise from hash(seed, index)",
  infer: (inputs: readonly TypeInfo[], attrs: { shape: readonly number[] }) => {
    expectArity(inputs, 1, "rand");
    const seed = input(inputs, 0, "rand");
    if (seed.dtype !== "int32") throw new DTypeError(`rand: the seed must be int32, got ${seed.dtype}`);
    if (seed.shape.length !== 0) throw new ShapeError(`rand: the seed must be a scalar, got ${formatShape(seed.shape)}`);
    return { shape: assertValidShape(attrs.shape, "rand"), dtype: "float32" };
  },
});

export function rand(seed: TensorLike, shape: readonly number[]): SymTensor {
  const s = asSym(seed);
  return s.builder.emit(RAND, [s], { shape: [...shape] });
}

/**
 * The reference noise function: a 32-bit integer hash (lowbias32, by Chris Wellons) of the index
 * mixed with the seed, keeping the top 24 bits so the float32 result is exact and below 1.
 */
export function hashUniform(seed: number, index: number): number {
  let x = (index ^ Math.imul(seed, 0x9e3779b9)) >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  x ^= x >>> 16;
  return (x >>> 8) / 16777216;
}
