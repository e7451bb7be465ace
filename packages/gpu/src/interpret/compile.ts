import { kernelError } from "../lang/errors.js";
import type { BinaryOp, Elem, Expr, KernelIR, Scalar, Stmt } from "../lang/ir.js";
import { HELPERS, type Helpers } from "./helpers.js";
import { runLockstep } from "./lockstep.js";
import { bare } from "../emit/bare.js";

// The interpreter compiles a kernel to one JavaScript function (V8 then compiles that to machine
// code) instead of walking the IR per element. Values keep their GPU types: f32 arithmetic is
// rounded with Math.fround after every operation, i32/u32 wrap, conversions saturate. A kernel
// without barriers runs its invocations one after another; one with barriers runs each
// invocation as a generator that yields at every barrier, and a workgroup's invocations advance
// in lockstep from barrier to barrier.

/** A typed view of one storage buffer: its element type's array. */
export type StorageView = Float32Array | Int32Array | Uint32Array | Uint16Array;

export interface InterpretedKernel {
  /** The generated JavaScript (for reading when a kernel misbehaves). */
  readonly source: string;
  /** The kernel's storage declarations, in binding order. */
  readonly storage: KernelIR["storage"];
  /**
   * Runs the dispatch: `views[i]` is storage binding i (see `storageView`), `params` the
   * parameter words in declaration order, `groups` the workgroup counts.
   */
  run(views: readonly StorageView[], params: Uint32Array | undefined, groups: readonly [number, number, number]): void;
}

/** The typed view through which the interpreter reads a storage binding of element type `elem`. */
export function storageView(elem: Elem, buffer: ArrayBufferLike, byteOffset = 0, bytes = buffer.byteLength - byteOffset): StorageView {
  switch (elem) {
    case "f32":
      return new Float32Array(buffer, byteOffset, bytes >> 2);
    case "i32":
      return new Int32Array(buffer, byteOffset, bytes >> 2);
    case "u32":
      return new Uint32Array(buffer, byteOffset, bytes >> 2);
    case "f16":
      return new Uint16Array(buffer, byteOffset, bytes >> 1);
  }
}

const ARRAY_OF: Readonly<Record<Exclude<Scalar, "bool">, string>> = { f32: "Float32Array", i32: "Int32Array", u32: "Uint32Array" };

const CMP: Partial<Readonly<Record<BinaryOp, string>>> = { lt: "<", le: "<=", gt: ">", ge: ">=", eq: "===", ne: "!==", and: "&&", or: "||" };

function hasBarrier(stmts: readonly Stmt[]): boolean {
  return stmts.some((s) => s.k === "barrier" || ((s.k === "if" && (hasBarrier(s.then) || hasBarrier(s.else))) || ((s.k === "for" || s.k === "while") && hasBarrier(s.body))));
}

export function compileInterpreted(ir: KernelIR, debug: boolean): InterpretedKernel {
  const lockstep = hasBarrier(ir.body);
  const [sx, sy, sz] = ir.workgroupSize;
  const f16 = new Set(ir.storage.filter((s) => s.elem === "f16").map((s) => s.name));

  const num = (t: Scalar, v: number | boolean): string => {
    if (t === "bool") return String(v);
    const n = v as number;
    if (Number.isNaN(n)) return "NaN";
    if (!Number.isFinite(n)) return n > 0 ? "Infinity" : "(-Infinity)";
    if (Object.is(n, -0)) return "(-0)";
    return n < 0 ? `(${n})` : String(n);
  };

  const builtin = (name: string, axis: number): string => {
    const a = "xyz"[axis]!;
    switch (name) {
      case "globalId":
        return `(_w${a} * ${ir.workgroupSize[axis]} + _l${a})`;
      case "localId":
        return `_l${a}`;
      case "groupId":
        return `_w${a}`;
      case "numGroups":
        return `_n${a}`;
      default:
        return "_lidx";
    }
  };

  const load = (e: Extract<Expr, { k: "load" }>): string => {
    const i = expr(e.index);
    const name = e.mem.name;
    if (e.mem.kind === "shared" && debug) return `_h.loadShared(${name}, ${name}$i, ${i}, "${name}")`;
    const raw = debug ? `_h.load(${name}, ${i}, "${name}")` : `${name}[${i}]`;
    return e.mem.kind === "storage" && f16.has(name) ? `_h.halfToFloat(${raw})` : raw;
  };

  const binary = (e: Extract<Expr, { k: "binary" }>): string => {
    const a = expr(e.a);
    const b = expr(e.b);
    const t = e.a.t;
    const cmp = CMP[e.op];
    if (cmp) return `(${a} ${cmp} ${b})`;
    const arith = { add: "+", sub: "-", mul: "*", div: "/", rem: "%" } as const;
    if (t === "f32") return `_f(${a} ${arith[e.op as keyof typeof arith]} ${b})`;
    const u = t === "u32";
    const wrap = (s: string) => (u ? `((${s}) >>> 0)` : `((${s}) | 0)`);
    switch (e.op) {
      case "add":
      case "sub":
        return wrap(`${a} ${arith[e.op]} ${b}`);
      case "mul":
        return u ? `(Math.imul(${a}, ${b}) >>> 0)` : `Math.imul(${a}, ${b})`;
      case "div":
        return `_h.${u ? "udiv" : "idiv"}(${a}, ${b})`;
      case "rem":
        return `_h.${u ? "urem" : "irem"}(${a}, ${b})`;
      case "bitAnd":
        return wrap(`${a} & ${b}`);
      case "bitOr":
        return wrap(`${a} | ${b}`);
      case "bitXor":
        return wrap(`${a} ^ ${b}`);
      case "shl":
        return wrap(`${a} << (${b} & 31)`);
      default: // shr
        return u ? `(${a} >>> (${b} & 31))` : `(${a} >> (${b} & 31))`;
    }
  };

  const call = (e: Extract<Expr, { k: "call" }>): string => {
    const a = e.args.map(expr);
    switch (e.fn) {
      case "packHalf2":
        return `((_h.floatToHalf(${a[0]}) | (_h.floatToHalf(${a[1]}) << 16)) >>> 0)`;
      case "unpackHalfLo":
        return `_h.halfToFloat(${a[0]} & 0xffff)`;
      case "unpackHalfHi":
        return `_h.halfToFloat(${a[0]} >>> 16)`;
      case "exp": case "log": case "sqrt": case "tanh": case "sin": case "cos":
        return `_f(Math.${e.fn}(${a[0]}))`;
      case "inverseSqrt":
        return `_f(1 / Math.sqrt(${a[0]}))`;
      case "floor": case "ceil": case "trunc":
        return `Math.${e.fn}(${a[0]})`;
      case "round":
        return `_h.roundEven(${a[0]})`;
      case "fma":
        // The product of two floats is exact in a double, so this rounds once (to double) then to float.
        return `_f(${a[0]} * ${a[1]} + ${a[2]})`;
      case "abs":
        return e.t === "i32" ? `(Math.abs(${a[0]}) | 0)` : `Math.abs(${a[0]})`;
      case "min":
      case "max":
        return `Math.${e.fn}(${a[0]}, ${a[1]})`;
      case "clamp":
        return `Math.min(Math.max(${a[0]}, ${a[1]}), ${a[2]})`;
    }
  };

  const convert = (t: Scalar, from: Scalar, a: string): string => {
    if (from === "bool") return `(${a} ? 1 : 0)`;
    if (t === "f32") return `_f(${a})`;
    if (t === "i32") return from === "f32" ? `_h.floatToI32(${a})` : `(${a} | 0)`;
    return from === "f32" ? `_h.floatToU32(${a})` : `(${a} >>> 0)`;
  };

  const bitcast = (t: Scalar, from: Scalar, a: string): string => {
    if (from === "f32") return t === "u32" ? `_h.floatBits(${a})` : `(_h.floatBits(${a}) | 0)`;
    if (t === "f32") return `_h.bitsFloat(${a})`;
    return t === "u32" ? `(${a} >>> 0)` : `(${a} | 0)`;
  };

  function expr(e: Expr): string {
    switch (e.k) {
      case "lit":
        return num(e.t, e.v);
      case "ref":
      case "param":
        return e.name;
      case "builtin":
        return builtin(e.name, e.axis);
      case "load":
        return load(e);
      case "unary": {
        const a = expr(e.a);
        if (e.op === "not") return `(!${a})`;
        if (e.op === "neg") return e.t === "i32" ? `((-${a}) | 0)` : `(-${a})`;
        return e.t === "u32" ? `((~${a}) >>> 0)` : `(~${a})`;
      }
      case "binary":
        return binary(e);
      case "call":
        return call(e);
      case "select":
        return `(${expr(e.cond)} ? ${expr(e.yes)} : ${expr(e.no)})`;
      case "convert":
        return convert(e.t, e.a.t, expr(e.a));
      case "bitcast":
        return bitcast(e.t, e.a.t, expr(e.a));
    }
  }

  const lines: string[] = [];
  const stmt = (s: Stmt, pad: string): void => {
    const block = (body: readonly Stmt[]) => body.forEach((b) => stmt(b, `${pad}  `));
    switch (s.k) {
      case "let":
      case "var":
        lines.push(`${pad}let ${s.name} = ${bare(expr(s.value))};`);
        break;
      case "assign":
        lines.push(`${pad}${s.name} = ${bare(expr(s.value))};`);
        break;
      case "store": {
        const name = s.mem.name;
        const i = expr(s.index);
        let v = expr(s.value);
        if (s.mem.kind === "storage" && f16.has(name)) v = `_h.floatToHalf(${v})`;
        if (!debug) lines.push(`${pad}${name}[${i}] = ${v};`);
        else if (s.mem.kind === "shared") lines.push(`${pad}_h.storeShared(${name}, ${name}$i, ${i}, ${v}, "${name}");`);
        else lines.push(`${pad}_h.store(${name}, ${i}, ${v}, "${name}");`);
        break;
      }
      case "array":
        lines.push(`${pad}const ${s.name} = new ${ARRAY_OF[s.t]}(${s.size});`);
        break;
      case "atomic": {
        const name = s.mem.name;
        const initFlags = s.mem.kind === "shared" && debug ? `${name}$i` : "undefined";
        lines.push(`${pad}const ${s.result ?? "_old"} = _h.atomic(${name}, ${initFlags}, ${expr(s.index)}, ${expr(s.value)}, "${s.op}", "${name}", ${debug});`);
        break;
      }
      case "if":
        lines.push(`${pad}if (${bare(expr(s.cond))}) {`);
        block(s.then);
        if (s.else.length) {
          lines.push(`${pad}} else {`);
          block(s.else);
        }
        lines.push(`${pad}}`);
        break;
      case "for":
        lines.push(`${pad}for (let ${s.name} = ${expr(s.init)}; ${bare(expr(s.cond))}; ${s.name} = ${bare(expr(s.update))}) {`);
        block(s.body);
        lines.push(`${pad}}`);
        break;
      case "while":
        lines.push(`${pad}while (${bare(expr(s.cond))}) {`);
        block(s.body);
        lines.push(`${pad}}`);
        break;
      case "break":
      case "continue":
        lines.push(`${pad}${s.k};`);
        break;
      case "return":
        lines.push(lockstep ? `${pad}return;` : `${pad}break _inv;`);
        break;
      case "barrier":
        lines.push(`${pad}yield ${s.id};`);
        break;
    }
  };
  for (const s of ir.body) stmt(s, "      ");

  const setup: string[] = [
    "const _f = Math.fround;",
    ...ir.storage.map((b, i) => `const ${b.name} = _views[${i}];`),
    "const _pf = _params ? new Float32Array(_params.buffer, _params.byteOffset, _params.length) : undefined;",
    ...ir.params.map((p, i) => `const ${p.name} = ${p.t === "u32" ? `_params[${i}]` : p.t === "i32" ? `(_params[${i}] | 0)` : `_pf[${i}]`};`),
    ...ir.consts.map((c, i) => `const ${c.name} = _consts[${i}];`),
    ...ir.shared.flatMap((s) => [`const ${s.name} = new ${ARRAY_OF[s.t]}(${s.size});`, ...(debug ? [`const ${s.name}$i = new Uint8Array(${s.size});`] : [])]),
    "const _nx = _groups[0], _ny = _groups[1], _nz = _groups[2];",
    "let _wx = 0, _wy = 0, _wz = 0;",
  ];
  const resetShared = ir.shared.flatMap((s) => [`${s.name}.fill(0);`, ...(debug ? [`${s.name}$i.fill(0);`] : [])]).join(" ");
  const body = lines.join("\n");
  const groupsLoop = (inner: string) => `for (_wz = 0; _wz < _nz; _wz++) for (_wy = 0; _wy < _ny; _wy++) for (_wx = 0; _wx < _nx; _wx++) {
    ${resetShared}
${inner}
  }`;

  let main: string;
  if (lockstep) {
    main = `const _inv = function* (_lx, _ly, _lz, _lidx) {
${body}
  };
  try {
    ${groupsLoop(`    _lockstep(_inv, ${sx}, ${sy}, ${sz}, ${debug});`)}
  } catch (e) {
    throw _h.locate(e, _kernel, [_wx, _wy, _wz]);
  }`;
  } else {
    main = `let _lx = 0, _ly = 0, _lz = 0;
  try {
    ${groupsLoop(`    for (_lz = 0; _lz < ${sz}; _lz++) for (_ly = 0; _ly < ${sy}; _ly++) for (_lx = 0; _lx < ${sx}; _lx++) {
      const _lidx = _lx + _ly * ${sx} + _lz * ${sx * sy};
      _inv: {
${body}
      }
    }`)}
  } catch (e) {
    throw _h.locate(e, _kernel, [_wx, _wy, _wz], [_lx, _ly, _lz]);
  }`;
  }
  const source = `// ${ir.name} (${ir.entry})${debug ? ", debug" : ""}
return function run(_views, _params, _groups) {
  ${setup.join("\n  ")}
  ${main}
};`;
  const consts = ir.consts.map((c) => (c.t === "f32" ? Float32Array.from(c.values) : c.t === "i32" ? Int32Array.from(c.values) : Uint32Array.from(c.values)));
  let run: InterpretedKernel["run"];
  try {
    run = new Function("_h", "_lockstep", "_consts", "_kernel", source)(HELPERS satisfies Helpers, runLockstep, consts, `${ir.name} (${ir.entry})`) as InterpretedKernel["run"];
  } catch (e) {
    throw kernelError(`the interpreter could not compile the kernel: ${(e as Error).message}`, ir.name);
  }
  return { source, storage: ir.storage, run };
}
