import { kernelError } from "./errors.js";
import type { Access, AtomicOp, Builtin, ConstArrayDecl, Elem, MemKind, MemRef, ParamDecl, Scalar, SharedDecl, Stmt, StorageDecl } from "./ir.js";
import { loadType } from "./ir.js";
import { toIndex, toVal, Val, type Index, type Numeric, type Operand } from "./values.js";

/**
 * Names no kernel may use for its own values: keywords and built-ins of WGSL, CUDA C++ and
 * JavaScript (the three languages a kernel becomes). A kernel asking for one gets it with a
 * trailing "_v", so definitions need not know every target's reserved words.
 */
const RESERVED = new Set(
  (
    "alias array atomic bitcast bool break case const continue continuing default discard else enable f16 f32 fn for function if i32 let loop mat2x2 " +
    "override private ptr return sampler storage struct switch true false type u32 uniform var vec2 vec3 vec4 while workgroup read write read_write " +
    "abs acos all any asin atan ceil clamp cos cosh cross degrees determinant distance dot exp exp2 floor fma fract frexp inverseSqrt ldexp length log log2 " +
    "max min mix modf normalize pow radians reflect round select sign sin sinh smoothstep sqrt step tan tanh transpose trunc select " +
    "auto char class delete do double enum extern float goto inline int long namespace new operator register short signed sizeof static template this " +
    "typedef typename union unsigned using virtual void volatile asm catch friend mutable protected public throw try " +
    "arguments await eval export function import in instanceof let null of super typeof undefined with yield NaN Infinity Math " +
    "threadIdx blockIdx blockDim gridDim warpSize main " +
    // WGSL's reserved words that read like ordinary names
    "active as async attribute become cast common demote filter final from get handle impl interface layout macro match meta mod module move " +
    "mut nil null pass patch precise precision priv pub readonly ref require resource restrict self set shared smooth std subroutine target trait " +
    "unless unsafe unsized use varying wgsl where writeonly"
  ).split(" "),
);

const IDENT = /^[A-Za-z][A-Za-z0-9_]*$/;

/** A value a kernel can assign to: a `var`. */
export class Var<T extends Scalar = Scalar> extends Val<T> {
  constructor(
    private readonly k: KernelBuilder,
    readonly name: string,
    t: T,
  ) {
    super({ k: "ref", t, name });
  }

  set(value: Operand<T>): void {
    const v = toVal(value, this.type);
    if (v.type !== this.type) throw kernelError(`type mismatch assigning a ${v.type} to ${this.type} variable "${this.name}"`);
    this.k.push({ k: "assign", name: this.name, value: v.ir });
  }
}

/** Indexed memory: a storage buffer, a workgroup array, a private array or a constant table. */
export class Memory<T extends Numeric = Numeric> {
  readonly ref: MemRef;

  constructor(
    private readonly k: KernelBuilder,
    kind: MemKind,
    readonly name: string,
    /** The register type of an element. */
    readonly type: T,
    private readonly writable: boolean,
    readonly atomic: boolean,
  ) {
    this.ref = { kind, name };
  }

  at(index: Index): Val<T> {
    if (this.atomic) throw kernelError(`"${this.name}" is atomic: read it with atomic("add", i, 0) or atomic("or", i, 0)`);
    return new Val<T>({ k: "load", t: this.type, mem: this.ref, index: toIndex(index, `load from "${this.name}"`).ir });
  }

  set(index: Index, value: Operand<T>): void {
    if (!this.writable) throw kernelError(`store to "${this.name}", which is read-only`);
    if (this.atomic) throw kernelError(`"${this.name}" is atomic: write it with atomic("exchange", i, v)`);
    const v = toVal(value, this.type);
    if (v.type !== this.type) throw kernelError(`type mismatch storing a ${v.type} into "${this.name}" (${this.type})`);
    this.k.push({ k: "store", mem: this.ref, index: toIndex(index, `store to "${this.name}"`).ir, value: v.ir });
  }

  /** An atomic read-modify-write; returns the old value. */
  atomicOp(op: AtomicOp, index: Index, value: Operand<T>): Val<T> {
    if (!this.atomic) throw kernelError(`atomic ${op} on "${this.name}", which was not declared atomic`);
    const v = toVal(value, this.type);
    if (v.type !== this.type) throw kernelError(`type mismatch in atomic ${op} on "${this.name}": ${v.type} into ${this.type}`);
    const result = this.k.fresh(`${this.name}_old`);
    this.k.push({ k: "atomic", op, mem: this.ref, index: toIndex(index, `atomic ${op} on "${this.name}"`).ir, value: v.ir, result, t: this.type as "i32" | "u32" });
    return new Val<T>({ k: "ref", t: this.type, name: result });
  }
}

interface Vec3 {
  readonly x: Val<"u32">;
  readonly y: Val<"u32">;
  readonly z: Val<"u32">;
}

const builtin = (name: Builtin): Vec3 => {
  const at = (axis: 0 | 1 | 2) => new Val<"u32">({ k: "builtin", t: "u32", name, axis });
  return { x: at(0), y: at(1), z: at(2) };
};

/**
 * Records a kernel: its bindings, parameters and memory, and its body as statements. Control flow
 * takes callbacks (`k.if(c, () => ...)`), and the statements they record land in that block.
 */
export class KernelBuilder {
  private readonly names = new Set<string>();
  private readonly blocks: Stmt[][] = [[]];
  private loops = 0;
  private barriers = 0;
  readonly storageDecls: StorageDecl[] = [];
  readonly paramDecls: ParamDecl[] = [];
  readonly sharedDecls: SharedDecl[] = [];
  readonly constDecls: ConstArrayDecl[] = [];
  size: [number, number, number] = [64, 1, 1];

  /** global_invocation_id: the invocation's position in the whole dispatch. */
  readonly globalId = builtin("globalId");
  /** local_invocation_id: its position in its workgroup. */
  readonly localId = builtin("localId");
  /** workgroup_id. */
  readonly groupId = builtin("groupId");
  /** num_workgroups: the dispatch's workgroup counts. */
  readonly numGroups = builtin("numGroups");
  /** local_invocation_index: x + y * sizeX + z * sizeX * sizeY within the workgroup. */
  readonly localIndex = new Val<"u32">({ k: "builtin", t: "u32", name: "localIndex", axis: 0 });

  constructor(readonly kernelName: string) {}

  /** Threads per workgroup in x, y, z (default 64, 1, 1). */
  workgroupSize(x: number, y = 1, z = 1): void {
    for (const s of [x, y, z]) if (!Number.isInteger(s) || s < 1) throw kernelError(`workgroup size ${x}x${y}x${z} must be positive integers`);
    this.size = [x, y, z];
  }

  get threads(): number {
    return this.size[0] * this.size[1] * this.size[2];
  }

  /** A name not used yet in this kernel, safe in every target language. */
  fresh(want: string): string {
    if (!IDENT.test(want)) throw kernelError(`"${want}" is not a valid name (letters, digits and _, starting with a letter)`);
    let base = RESERVED.has(want) ? `${want}_v` : want;
    if (/_\d+$/.test(base)) base = `${base}_`;
    let name = base;
    for (let n = 1; this.names.has(name); n++) name = `${base}_${n}`;
    this.names.add(name);
    return name;
  }

  private declareName(want: string, what: string): string {
    const name = this.fresh(want);
    if (name !== want) throw kernelError(`${what} "${want}" is declared twice or uses a reserved name`);
    return name;
  }

  /** A storage buffer bound read-only (binding order = declaration order). */
  input<E extends Elem>(name: string, elem: E): Memory<E extends "f16" ? "f32" : Exclude<E, "f16">> {
    return this.storage(name, elem, "read");
  }

  /** A storage buffer bound read-write. */
  output<E extends Elem>(name: string, elem: E, options: { atomic?: boolean } = {}): Memory<E extends "f16" ? "f32" : Exclude<E, "f16">> {
    return this.storage(name, elem, "read_write", options.atomic ?? false);
  }

  storage<E extends Elem>(name: string, elem: E, access: Access, atomic = false): Memory<E extends "f16" ? "f32" : Exclude<E, "f16">> {
    this.declareName(name, "buffer");
    if (atomic && (elem === "f32" || elem === "f16" || access !== "read_write")) throw kernelError(`atomic buffer "${name}" must be read_write i32 or u32`);
    this.storageDecls.push({ name, elem, access, atomic });
    return new Memory(this, "storage", name, loadType(elem), access === "read_write", atomic) as Memory<E extends "f16" ? "f32" : Exclude<E, "f16">>;
  }

  /** A shape parameter: a uniform in WGSL, a by-value argument in CUDA; the same pipeline serves every value. */
  param<T extends "u32" | "i32" | "f32">(name: string, t: T): Val<T> {
    this.declareName(name, "parameter");
    this.paramDecls.push({ name, t });
    return new Val<T>({ k: "param", t, name });
  }

  /** Workgroup (shared) memory: one array per workgroup. */
  shared<T extends Numeric>(name: string, t: T, size: number, options: { atomic?: boolean } = {}): Memory<T> {
    this.declareName(name, "workgroup array");
    if (!Number.isInteger(size) || size < 1) throw kernelError(`workgroup array "${name}" has size ${size}`);
    const atomic = options.atomic ?? false;
    if (atomic && t === "f32") throw kernelError(`atomic workgroup array "${name}" must be i32 or u32`);
    this.sharedDecls.push({ name, t, size, atomic });
    return new Memory(this, "shared", name, t, true, atomic);
  }

  /** A table of constants, indexable at run time. */
  constArray<T extends "f32" | "i32" | "u32">(name: string, t: T, values: readonly number[]): Memory<T> {
    this.declareName(name, "constant array");
    if (values.length === 0) throw kernelError(`constant array "${name}" is empty`);
    this.constDecls.push({ name, t, values: t === "f32" ? values.map(Math.fround) : values.map((v) => (toVal(v, t).ir as { v: number }).v) });
    return new Memory(this, "const", name, t, false, false);
  }

  /** A per-invocation array, zero-filled here. */
  array<T extends Numeric>(name: string, t: T, size: number): Memory<T> {
    if (!Number.isInteger(size) || size < 1) throw kernelError(`private array "${name}" has size ${size}`);
    const n = this.fresh(name);
    this.push({ k: "array", name: n, t, size });
    return new Memory(this, "private", n, t, true, false);
  }

  /** Binds an immutable value (computed once here). */
  let<T extends Scalar>(name: string, value: Val<T>): Val<T> {
    const n = this.fresh(name);
    this.push({ k: "let", name: n, value: value.ir });
    return new Val<T>({ k: "ref", t: value.type, name: n });
  }

  /** A mutable variable, initialised to `init` (a number is an f32 unless `t` says otherwise). */
  var<T extends Scalar>(name: string, init: Val<T>): Var<T>;
  var<T extends Scalar>(name: string, t: T, init: number | boolean): Var<T>;
  var<T extends Scalar>(name: string, a: Val<T> | T, b?: number | boolean): Var<T> {
    const init = a instanceof Val ? a : toVal(b!, a);
    const n = this.fresh(name);
    this.push({ k: "var", name: n, t: init.type, value: init.ir });
    return new Var<T>(this, n, init.type);
  }

  if(cond: Val<"bool">, then: () => void, otherwise?: () => void): void {
    if (cond.type !== "bool") throw kernelError(`if condition is a ${cond.type}, not a bool`);
    const t = this.block(then);
    const e = otherwise ? this.block(otherwise) : [];
    this.push({ k: "if", cond: cond.ir, then: t, else: e });
  }

  /** `for (var i = init; cond(i); i = update(i)) body(i)`. */
  for<T extends Numeric>(name: string, init: Val<T>, cond: (i: Val<T>) => Val<"bool">, update: (i: Val<T>) => Val<T>, body: (i: Val<T>) => void): void {
    const n = this.fresh(name);
    const i = new Val<T>({ k: "ref", t: init.type, name: n });
    const c = cond(i);
    const u = update(i);
    if (c.type !== "bool") throw kernelError(`loop condition of "${name}" is a ${c.type}, not a bool`);
    if (u.type !== init.type) throw kernelError(`type mismatch in the update of loop variable "${name}": ${u.type} for ${init.type}`);
    this.push({ k: "for", name: n, t: init.type, init: init.ir, cond: c.ir, update: u.ir, body: this.loop(() => body(i)) });
  }

  /** `for (var i = start; i < end; i += step) body(i)` over u32 (or i32, if start is). */
  range<T extends "u32" | "i32" = "u32">(name: string, start: Val<T> | number, end: Val<T> | number, body: (i: Val<T>) => void, step: Val<T> | number = 1): void {
    const t = (start instanceof Val ? start.type : end instanceof Val ? end.type : "u32") as T;
    this.for(name, toVal(start as Operand<T>, t), (i) => i.lt(end as Operand<T>), (i) => i.add(step as Operand<T>), body);
  }

  while(cond: Val<"bool">, body: () => void): void {
    if (cond.type !== "bool") throw kernelError(`while condition is a ${cond.type}, not a bool`);
    this.push({ k: "while", cond: cond.ir, body: this.loop(body) });
  }

  break(): void {
    if (!this.loops) throw kernelError("break outside a loop");
    this.push({ k: "break" });
  }

  continue(): void {
    if (!this.loops) throw kernelError("continue outside a loop");
    this.push({ k: "continue" });
  }

  /** Ends this invocation. */
  return(): void {
    this.push({ k: "return" });
  }

  /** workgroupBarrier() / __syncthreads(): every invocation of the workgroup must reach it. */
  barrier(): void {
    this.push({ k: "barrier", id: this.barriers++ });
  }

  /** Appends a statement to the current block (used by Var and Memory). */
  push(s: Stmt): void {
    this.blocks[this.blocks.length - 1]!.push(s);
  }

  private block(body: () => void): Stmt[] {
    // A throwing body abandons the whole builder, so the stack need not be rebalanced.
    this.blocks.push([]);
    body();
    return this.blocks.pop()!;
  }

  private loop(body: () => void): Stmt[] {
    this.loops++;
    try {
      return this.block(body);
    } finally {
      this.loops--;
    }
  }

  /** The recorded top-level statements. */
  get body(): readonly Stmt[] {
    if (this.blocks.length !== 1) throw kernelError("the kernel body was read while a block was still open");
    return this.blocks[0]!;
  }
}

