import { kernelError } from "./errors.js";
import type { BinaryOp, Expr, Intrinsic, Scalar, UnaryOp } from "./ir.js";

// Typed expressions. A `Val<T>` wraps an IR expression of type T; its methods build bigger
// expressions and check operand types as they go, so a mismatch fails where the kernel wrote it,
// with the kernel's name. Numbers passed as operands become literals of the other operand's type.

export type Numeric = Exclude<Scalar, "bool">;
export type Operand<T extends Scalar> = Val<T> | (T extends "bool" ? boolean : number);
/** What an index may be: a u32 or i32 value, or a non-negative integer. */
export type Index = Val<"u32"> | Val<"i32"> | number;

export class Val<T extends Scalar = Scalar> {
  constructor(readonly ir: Expr) {}

  get type(): T {
    return this.ir.t as T;
  }

  add(b: Operand<T>): Val<T> { return binary("add", this, b); }
  sub(b: Operand<T>): Val<T> { return binary("sub", this, b); }
  mul(b: Operand<T>): Val<T> { return binary("mul", this, b); }
  div(b: Operand<T>): Val<T> { return binary("div", this, b); }
  /** Remainder with the sign of the dividend (C, WGSL and JS `%`). */
  rem(b: Operand<T>): Val<T> { return binary("rem", this, b); }
  lt(b: Operand<T>): Val<"bool"> { return binary("lt", this, b); }
  le(b: Operand<T>): Val<"bool"> { return binary("le", this, b); }
  gt(b: Operand<T>): Val<"bool"> { return binary("gt", this, b); }
  ge(b: Operand<T>): Val<"bool"> { return binary("ge", this, b); }
  eq(b: Operand<T>): Val<"bool"> { return binary("eq", this, b); }
  ne(b: Operand<T>): Val<"bool"> { return binary("ne", this, b); }
  and(b: Operand<T>): Val<T> { return binary(this.type === "bool" ? "and" : "bitAnd", this, b); }
  or(b: Operand<T>): Val<T> { return binary(this.type === "bool" ? "or" : "bitOr", this, b); }
  xor(b: Operand<T>): Val<T> { return binary("bitXor", this, b); }
  /** Shifts take a u32 amount (below the bit width), as WGSL requires. */
  shl(b: Val<"u32"> | number): Val<T> { return binary("shl", this, b as Operand<T>); }
  shr(b: Val<"u32"> | number): Val<T> { return binary("shr", this, b as Operand<T>); }
  neg(): Val<T> { return unary("neg", this); }
  not(): Val<T> { return unary(this.type === "bool" ? "not" : "bitNot", this); }

  min(b: Operand<T>): Val<T> { return call("min", [this, b]); }
  max(b: Operand<T>): Val<T> { return call("max", [this, b]); }
  clamp(lo: Operand<T>, hi: Operand<T>): Val<T> { return call("clamp", [this, lo, hi]); }
  abs(): Val<T> { return call("abs", [this]); }

  /** Value conversions: f32 -> i32/u32 truncates toward zero and saturates; bool -> 0/1. */
  f32(): Val<"f32"> { return convert("f32", this); }
  i32(): Val<"i32"> { return convert("i32", this); }
  u32(): Val<"u32"> { return convert("u32", this); }
  /** Reinterprets the 32 bits. */
  bitcast<U extends "f32" | "i32" | "u32">(to: U): Val<U> {
    if (this.type === "bool") throw kernelError("bitcast of a bool");
    return new Val<U>({ k: "bitcast", t: to, a: this.ir });
  }
}

/** A literal of type `t` (checked: integers must fit, f32 values are rounded to float32). */
export function lit<T extends Scalar>(t: T, v: number | boolean): Val<T> {
  if (t === "bool") {
    if (typeof v !== "boolean") throw kernelError(`bool literal ${String(v)} is not true or false`);
    return new Val<T>({ k: "lit", t, v });
  }
  if (typeof v !== "number") throw kernelError(`${t} literal ${String(v)} is not a number`);
  if (t === "f32") return new Val<T>({ k: "lit", t, v: Math.fround(v) });
  const ok = Number.isInteger(v) && (t === "i32" ? v >= -(2 ** 31) && v < 2 ** 31 : v >= 0 && v < 2 ** 32);
  if (!ok) throw kernelError(`${t} literal ${v} is out of range`);
  return new Val<T>({ k: "lit", t, v });
}

export const f32 = (v: number): Val<"f32"> => lit("f32", v);
export const i32 = (v: number): Val<"i32"> => lit("i32", v);
export const u32 = (v: number): Val<"u32"> => lit("u32", v);
export const bool = (v: boolean): Val<"bool"> => lit("bool", v);

/** `v` as a Val: numbers become literals of type `t`. */
export function toVal<T extends Scalar>(v: Val | number | boolean, t: T): Val<T> {
  return v instanceof Val ? (v as Val<T>) : lit(t, v as number | boolean);
}

/** An index operand: a u32 or i32 value (numbers are u32 literals). */
export function toIndex(i: Index, what: string): Val<"u32" | "i32"> {
  const v: Val = i instanceof Val ? i : u32(i);
  if (v.type !== "u32" && v.type !== "i32") throw kernelError(`${what}: index must be u32 or i32, got ${v.type}`);
  return v as Val<"u32" | "i32">;
}

const ARITH = new Set<BinaryOp>(["add", "sub", "mul", "div", "rem"]);
const COMPARE = new Set<BinaryOp>(["lt", "le", "gt", "ge", "eq", "ne"]);
const BITS = new Set<BinaryOp>(["bitAnd", "bitOr", "bitXor"]);
const SHIFTS = new Set<BinaryOp>(["shl", "shr"]);

function binary<R extends Scalar>(op: BinaryOp, a: Val, bOperand: Val | number | boolean): Val<R> {
  const b = SHIFTS.has(op) ? toVal(bOperand, "u32") : toVal(bOperand, a.type);
  const [ta, tb] = [a.type, b.type];
  const mismatch = () => kernelError(`type mismatch in ${op}: ${ta} and ${tb}`);
  let t: Scalar;
  if (SHIFTS.has(op)) {
    if (ta !== "i32" && ta !== "u32") throw kernelError(`${op} of a ${ta} (shifts take i32 or u32)`);
    if (tb !== "u32") throw kernelError(`${op} by a ${tb} amount (shift amounts are u32)`);
    t = ta;
  } else {
    if (ta !== tb) throw mismatch();
    if (ARITH.has(op)) {
      if (ta === "bool") throw kernelError(`${op} of bools`);
      t = ta;
    } else if (COMPARE.has(op)) {
      if (ta === "bool" && op !== "eq" && op !== "ne") throw kernelError(`${op} of bools`);
      t = "bool";
    } else if (BITS.has(op)) {
      if (ta !== "i32" && ta !== "u32") throw kernelError(`${op} of ${ta} (bitwise ops take i32 or u32)`);
      t = ta;
    } else {
      if (ta !== "bool") throw kernelError(`${op} of ${ta} (logical ops take bools)`);
      t = "bool";
    }
  }
  return new Val<R>({ k: "binary", t, op, a: a.ir, b: b.ir });
}

function unary<R extends Scalar>(op: UnaryOp, a: Val): Val<R> {
  const t = a.type;
  const ok = op === "neg" ? t === "f32" || t === "i32" : op === "not" ? t === "bool" : t === "i32" || t === "u32";
  if (!ok) throw kernelError(`${op} of a ${t}`);
  return new Val<R>({ k: "unary", t, op, a: a.ir });
}

const FLOAT_ONLY = new Set<Intrinsic>(["exp", "log", "sqrt", "inverseSqrt", "tanh", "sin", "cos", "floor", "ceil", "round", "trunc", "fma"]);

/** A math intrinsic; operands must share one type (f32 for the transcendental ones). */
export function call<R extends Scalar>(fn: Intrinsic, operands: readonly (Val | number | boolean)[]): Val<R> {
  if (fn === "packHalf2") {
    const args = operands.map((o) => toVal(o, "f32"));
    if (args.length !== 2 || args.some((a) => a.type !== "f32")) throw kernelError("packHalf2 takes two f32 values");
    return new Val<R>({ k: "call", t: "u32", fn, args: args.map((a) => a.ir) });
  }
  if (fn === "unpackHalfLo" || fn === "unpackHalfHi") {
    const w = toVal(operands[0]!, "u32");
    if (operands.length !== 1 || w.type !== "u32") throw kernelError(`${fn} takes one u32 word`);
    return new Val<R>({ k: "call", t: "f32", fn, args: [w.ir] });
  }
  const first = operands.find((o): o is Val => o instanceof Val);
  const t = first?.type ?? "f32";
  const args = operands.map((o) => toVal(o, t));
  for (const a of args) if (a.type !== t) throw kernelError(`type mismatch in ${fn}: ${args.map((x) => x.type).join(", ")}`);
  if (t === "bool") throw kernelError(`${fn} of bools`);
  if (FLOAT_ONLY.has(fn) && t !== "f32") throw kernelError(`${fn} of ${t} (it takes f32)`);
  if (fn === "abs" && t === "u32") throw kernelError("abs of a u32");
  const arity = fn === "clamp" || fn === "fma" ? 3 : fn === "min" || fn === "max" ? 2 : 1;
  if (args.length !== arity) throw kernelError(`${fn} takes ${arity} operand(s), got ${args.length}`);
  return new Val<R>({ k: "call", t, fn, args: args.map((a) => a.ir) });
}

/** cond ? yes : no, evaluating both (WGSL select). */
export function select<T extends Scalar>(cond: Val<"bool">, yes: Operand<T>, no: Operand<T>): Val<T> {
  const first = [yes, no].find((o): o is Val<T> => o instanceof Val);
  const t = (first?.type ?? (typeof yes === "boolean" ? "bool" : "f32")) as T;
  const [y, n] = [toVal(yes, t), toVal(no, t)];
  if (cond.type !== "bool") throw kernelError(`select condition is a ${cond.type}, not a bool`);
  if (y.type !== n.type) throw kernelError(`type mismatch in select: ${y.type} and ${n.type}`);
  return new Val<T>({ k: "select", t: y.type, cond: cond.ir, yes: y.ir, no: n.ir });
}

function convert<R extends Scalar>(t: R, a: Val): Val<R> {
  if (a.type === t) return a as unknown as Val<R>;
  if (t === "bool") throw kernelError(`conversion of a ${a.type} to bool (compare it instead)`);
  return new Val<R>({ k: "convert", t, a: a.ir });
}

// The intrinsics as free functions, for kernels that read better that way.
export const exp = (x: Val<"f32">): Val<"f32"> => call("exp", [x]);
export const log = (x: Val<"f32">): Val<"f32"> => call("log", [x]);
export const sqrt = (x: Val<"f32">): Val<"f32"> => call("sqrt", [x]);
export const inverseSqrt = (x: Val<"f32">): Val<"f32"> => call("inverseSqrt", [x]);
export const tanh = (x: Val<"f32">): Val<"f32"> => call("tanh", [x]);
export const floor = (x: Val<"f32">): Val<"f32"> => call("floor", [x]);
/** Round half to even. */
export const round = (x: Val<"f32">): Val<"f32"> => call("round", [x]);
export const fma = (a: Val<"f32">, b: Operand<"f32">, c: Operand<"f32">): Val<"f32"> => call("fma", [a, b, c]);
export const min = <T extends Numeric>(a: Val<T>, b: Operand<T>): Val<T> => a.min(b);
export const max = <T extends Numeric>(a: Val<T>, b: Operand<T>): Val<T> => a.max(b);
export const packHalf2 = (lo: Val<"f32">, hi: Val<"f32">): Val<"u32"> => call("packHalf2", [lo, hi]);
export const unpackHalf = (word: Val<"u32">, high: boolean): Val<"f32"> => call(high ? "unpackHalfHi" : "unpackHalfLo", [word]);
