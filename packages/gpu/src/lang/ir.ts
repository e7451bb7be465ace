// The kernel IR: what a kernel definition builds and what every emitter and the interpreter read.
// Plain data, so a kernel can be printed, checked and compiled by code that knows nothing of the
// builder that made it.

/** Value types. `bool` exists only in registers (conditions); it cannot be stored. */
export type Scalar = "f32" | "i32" | "u32" | "bool";

/**
 * Element types of storage buffers. `f16` is a storage format: a load widens it to f32 and a store
 * rounds an f32 to the nearest half (ties to even).
 */
export type Elem = "f32" | "i32" | "u32" | "f16";

export type Access = "read" | "read_write";

/** The invocation's position: WGSL builtins, CUDA threadIdx/blockIdx/gridDim. */
export type Builtin = "globalId" | "localId" | "groupId" | "numGroups" | "localIndex";

export type UnaryOp = "neg" | "not" | "bitNot";
export type BinaryOp =
  | "add" | "sub" | "mul" | "div" | "rem"
  | "lt" | "le" | "gt" | "ge" | "eq" | "ne"
  | "and" | "or"
  | "bitAnd" | "bitOr" | "bitXor" | "shl" | "shr";

/** Math intrinsics; each emitter maps them to its language's built-ins. */
export type Intrinsic =
  | "exp" | "log" | "sqrt" | "inverseSqrt" | "tanh" | "sin" | "cos" | "abs"
  | "floor" | "ceil" | "round" | "trunc"
  | "min" | "max" | "clamp" | "fma"
  /** (lo: f32, hi: f32) -> u32: two halves in one word, lo in the low 16 bits. */
  | "packHalf2"
  /** (word: u32) -> f32 of its low half; "unpackHalfHi" of its high half. */
  | "unpackHalfLo" | "unpackHalfHi";

export type AtomicOp = "add" | "sub" | "max" | "min" | "and" | "or" | "xor" | "exchange";

/** Memory an index reads or writes. */
export type MemKind = "storage" | "shared" | "private" | "const";

export interface MemRef {
  readonly kind: MemKind;
  readonly name: string;
}

export type Expr =
  | { readonly k: "lit"; readonly t: Scalar; readonly v: number | boolean }
  | { readonly k: "ref"; readonly t: Scalar; readonly name: string }
  | { readonly k: "builtin"; readonly t: "u32"; readonly name: Builtin; readonly axis: 0 | 1 | 2 }
  | { readonly k: "param"; readonly t: Scalar; readonly name: string }
  | { readonly k: "load"; readonly t: Scalar; readonly mem: MemRef; readonly index: Expr }
  | { readonly k: "unary"; readonly t: Scalar; readonly op: UnaryOp; readonly a: Expr }
  | { readonly k: "binary"; readonly t: Scalar; readonly op: BinaryOp; readonly a: Expr; readonly b: Expr }
  | { readonly k: "call"; readonly t: Scalar; readonly fn: Intrinsic; readonly args: readonly Expr[] }
  | { readonly k: "select"; readonly t: Scalar; readonly cond: Expr; readonly yes: Expr; readonly no: Expr }
  /** Value conversion (f32 -> i32 truncates toward zero and saturates). */
  | { readonly k: "convert"; readonly t: Scalar; readonly a: Expr }
  /** Reinterpretation of the 32 bits. */
  | { readonly k: "bitcast"; readonly t: Scalar; readonly a: Expr };

export type Stmt =
  | { readonly k: "let"; readonly name: string; readonly value: Expr }
  | { readonly k: "var"; readonly name: string; readonly t: Scalar; readonly value: Expr }
  | { readonly k: "assign"; readonly name: string; readonly value: Expr }
  | { readonly k: "store"; readonly mem: MemRef; readonly index: Expr; readonly value: Expr }
  /** A private (per-invocation) array, zero-filled where it is declared. */
  | { readonly k: "array"; readonly name: string; readonly t: Exclude<Scalar, "bool">; readonly size: number }
  /** Atomic read-modify-write; the old value is bound to `result` when given. */
  | { readonly k: "atomic"; readonly op: AtomicOp; readonly mem: MemRef; readonly index: Expr; readonly value: Expr; readonly result?: string; readonly t: "i32" | "u32" }
  | { readonly k: "if"; readonly cond: Expr; readonly then: readonly Stmt[]; readonly else: readonly Stmt[] }
  /** `for (var name = init; cond; name = update) body`. */
  | { readonly k: "for"; readonly name: string; readonly t: Scalar; readonly init: Expr; readonly cond: Expr; readonly update: Expr; readonly body: readonly Stmt[] }
  | { readonly k: "while"; readonly cond: Expr; readonly body: readonly Stmt[] }
  | { readonly k: "break" }
  | { readonly k: "continue" }
  | { readonly k: "return" }
  /** Workgroup barrier (storage and workgroup memory). `id` numbers the barriers of a kernel. */
  | { readonly k: "barrier"; readonly id: number };

export interface StorageDecl {
  readonly name: string;
  readonly elem: Elem;
  readonly access: Access;
  /** Elements are accessed atomically (i32/u32 only, read_write). */
  readonly atomic: boolean;
}

export interface ParamDecl {
  readonly name: string;
  readonly t: "u32" | "i32" | "f32";
}

export interface SharedDecl {
  readonly name: string;
  readonly t: Exclude<Scalar, "bool">;
  readonly size: number;
  readonly atomic: boolean;
}

export interface ConstArrayDecl {
  readonly name: string;
  readonly t: "f32" | "i32" | "u32";
  readonly values: readonly number[];
}

/** A kernel after specialization: everything an emitter or the interpreter needs. */
export interface KernelIR {
  /** The kernel's name, as written in its definition. */
  readonly name: string;
  /** A C/WGSL identifier unique to this specialization (CUDA entry point, cache key). */
  readonly entry: string;
  readonly workgroupSize: readonly [number, number, number];
  /** Bound in this order: binding i in WGSL, argument i in CUDA. */
  readonly storage: readonly StorageDecl[];
  /** Shape parameters: a uniform struct in WGSL, by-value arguments after the buffers in CUDA. */
  readonly params: readonly ParamDecl[];
  readonly shared: readonly SharedDecl[];
  readonly consts: readonly ConstArrayDecl[];
  readonly body: readonly Stmt[];
}

/** Bytes of one element of a storage type. */
export const elemBytes = (e: Elem): number => (e === "f16" ? 2 : 4);

/** The register type a storage element loads as. */
export const loadType = (e: Elem): Exclude<Scalar, "bool"> => (e === "f16" ? "f32" : e);
