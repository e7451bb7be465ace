import { builderOf, SymTensor, toSym, type TensorLike } from "../graph/symbolic.js";
import { broadcastShapes } from "../tensor/shape.js";
import { emitOn, expectArity, expectFloat, expectSameDType, input, sumToShape } from "./helpers.js";
import { defineOp, type GradRule, type PrimitiveOpDef, type TypeInfo } from "./registry.js";

// ---- unary: float in, float out, same shape ----

function unary(name: string, doc: string, grad: GradRule): PrimitiveOpDef {
  return defineOp({
    name,
    kind: "primitive",
    doc,
    infer: (inputs: readonly TypeInfo[]) => {
      expectArity(inputs, 1, name);
      const x = input(inputs, 0, name);
      if (name !== "neg") expectFloat(x, name);
      return x;
    },
    grad,
  });
}

export const NEG = unary("neg", "-x", ({ grad }) => [grad.neg()]);
export const EXP = unary("exp", "e^x", ({ grad, output }) => [grad.mul(output)]);
export const LOG = unary("log", "natural logarithm", ({ grad, inputs }) => [grad.div(inputs[0]!)]);
export const SIN = unary("sin", "sine", ({ grad, inputs }) => [grad.mul(inputs[0]!.cos())]);
export const COS = unary("cos", "cosine", ({ grad, inputs }) => [grad.mul(inputs[0]!.sin()).neg()]);
export const SQRT = unary("sqrt", "square root", ({ grad, output }) => [grad.div(output.mul(2))]);
export const RECIP = unary("recip", "1 / x", ({ grad, output }) => [grad.mul(output.mul(output)).neg()]);

export const neg = (x: TensorLike): SymTensor => emitOn(NEG, [x]);
export const exp = (x: TensorLike): SymTensor => emitOn(EXP, [x]);
export const log = (x: TensorLike): SymTensor => emitOn(LOG, [x]);
export const sin = (x: TensorLike): SymTensor => emitOn(SIN, [x]);
export const cos = (x: TensorLike): SymTensor => emitOn(COS, [x]);
export const sqrt = (x: TensorLike): SymTensor => emitOn(SQRT, [x]);
export const recip = (x: TensorLike): SymTensor => emitOn(RECIP, [x]);
export const rsqrt = (x: TensorLike): SymTensor => recip(sqrt(x));

// ---- binary with NumPy broadcasting; operands must share a dtype ----

function binary(name: string, doc: string, grad: GradRule | undefined, resultDType?: "float32"): PrimitiveOpDef {
  return defineOp({
    name,
    kind: "primitive",
    doc,
    infer: (inputs: readonly TypeInfo[]) => {
      expectArity(inputs, 2, name);
      const a = input(inputs, 0, name);
      const b = input(inputs, 1, name);
      expectSameDType(a, b, name);
      return { shape: broadcastShapes(a.shape, b.shape, name), dtype: resultDType ?? a.dtype };
    },
    ...(grad ? { grad } : {}),
  });
}

/** Wraps a rule that computes full-shape gradients so each is summed back to its input's shape. */
const unbroadcast =
  (rule: (ctx: Parameters<GradRule>[0]) => (SymTensor | undefined)[]): GradRule =>
  (ctx) =>
    rule(ctx).map((g, i) => (g ? sumToShape(g, ctx.inputs[i]!.shape) : undefined));

export const ADD = binary("add", "a + b", unbroadcast(({ grad }) => [grad, grad]));
export const SUB = binary("sub", "a - b", unbroadcast(({ grad }) => [grad, grad.neg()]));
export const MUL = binary("mul", "a * b", unbroadcast(({ grad, inputs: [a, b] }) => [grad.mul(b!), grad.mul(a!)]));
export const DIV = binary("div", "a / b", unbroadcast(({ grad, inputs: [, b], output }) => [grad.div(b!), grad.mul(output).div(b!).neg()]));
export const MAXIMUM = binary(
  "maximum",
  "elementwise max(a, b); ties split the gradient evenly",
  unbroadcast(({ grad, inputs: [a, b] }) => {
    const share = a!.less(b!).neg().add(1).sub(a!.equal(b!).mul(0.5)); // 1 where a > b, 0.5 on ties
    return [grad.mul(share), grad.mul(share.neg().add(1))];
  }),
);
/** Comparisons return float32 masks (1 where true, 0 where false) and have no gradient. */
export const LESS = binary("less", "a < b as a 0/1 float32 mask", undefined, "float32");
export const EQUAL = binary("equal", "a == b as a 0/1 float32 mask", undefined, "float32");

export const add = (a: TensorLike, b: TensorLike): SymTensor => emitOn(ADD, [a, b]);
export const sub = (a: TensorLike, b: TensorLike): SymTensor => emitOn(SUB, [a, b]);
export const mul = (a: TensorLike, b: TensorLike): SymTensor => emitOn(MUL, [a, b]);
export const div = (a: TensorLike, b: TensorLike): SymTensor => emitOn(DIV, [a, b]);
export const maximum = (a: TensorLike, b: TensorLike): SymTensor => emitOn(MAXIMUM, [a, b]);
export const less = (a: TensorLike, b: TensorLike): SymTensor => emitOn(LESS, [a, b]);
export const equal = (a: TensorLike, b: TensorLike): SymTensor => emitOn(EQUAL, [a, b]);

// ---- where(cond, a, b): cond is any dtype, nonzero selects a ----

export const WHERE = defineOp({
  name: "where",
  kind: "primitive",
  doc: "cond != 0 ? a : b, broadcasting all three",
  infer: (inputs: readonly TypeInfo[]) => {
    expectArity(inputs, 3, "where");
    const [c, a, b] = [input(inputs, 0, "where"), input(inputs, 1, "where"), input(inputs, 2, "where")];
    expectSameDType(a, b, "where");
    return { shape: broadcastShapes(broadcastShapes(c.shape, a.shape, "where"), b.shape, "where"), dtype: a.dtype };
  },
  grad: unbroadcast(({ grad, inputs: [c] }) => {
    const zero = grad.builder.scalar(0, grad.dtype);
    return [undefined, where(c!, grad, zero), where(c!, zero, grad)];
  }),
});

export const where = (cond: TensorLike, a: TensorLike, b: TensorLike): SymTensor => {
  const builder = builderOf(cond, a, b);
  const dtype = [a, b].find((x): x is SymTensor => x instanceof SymTensor)?.dtype ?? "float32";
  return builder.emit(WHERE, [toSym(cond, builder), toSym(a, builder, dtype), toSym(b, builder, dtype)]);
};
