import type { BinaryOp, Expr, Intrinsic, KernelIR, Scalar, Stmt } from "../lang/ir.js";
import { bare } from "./bare.js";

// WGSL: storage buffers at bindings 0..n-1 in declaration order, the parameters (if any) as one
// uniform struct at binding n, entry point `main`.

const BINARY: Readonly<Record<BinaryOp, string>> = {
  add: "+", sub: "-", mul: "*", div: "/", rem: "%",
  lt: "<", le: "<=", gt: ">", ge: ">=", eq: "==", ne: "!=",
  and: "&&", or: "||", bitAnd: "&", bitOr: "|", bitXor: "^", shl: "<<", shr: ">>",
};

const BUILTIN = { globalId: "_gid", localId: "_lid", groupId: "_wid", numGroups: "_nwg" } as const;

const INTRINSIC: Partial<Readonly<Record<Intrinsic, string>>> = {
  exp: "exp", log: "log", sqrt: "sqrt", inverseSqrt: "inverseSqrt", tanh: "tanh", sin: "sin", cos: "cos", abs: "abs",
  floor: "floor", ceil: "ceil", round: "round", trunc: "trunc", min: "min", max: "max", clamp: "clamp", fma: "fma",
};

const ATOMIC = { add: "atomicAdd", sub: "atomicSub", max: "atomicMax", min: "atomicMin", and: "atomicAnd", or: "atomicOr", xor: "atomicXor", exchange: "atomicExchange" } as const;

/** Whether `e` reads nothing: WGSL would evaluate it when the shader is created. */
function isConstant(e: Expr): boolean {
  switch (e.k) {
    case "lit":
      return true;
    case "ref":
    case "param":
    case "builtin":
    case "load":
      return false;
    case "unary":
    case "convert":
    case "bitcast":
      return isConstant(e.a);
    case "binary":
      return isConstant(e.a) && isConstant(e.b);
    case "call":
      return e.args.every(isConstant);
    case "select":
      return isConstant(e.cond) && isConstant(e.yes) && isConstant(e.no);
  }
}

export function emitWgsl(ir: KernelIR): string {
  let needsZero = false;
  const f16 = new Set(ir.storage.filter((s) => s.elem === "f16").map((s) => s.name));

  const lit = (t: Scalar, v: number | boolean): string => {
    if (t === "bool") return String(v);
    const n = v as number;
    if (t === "u32") return `${n}u`;
    if (t === "i32") return n === -(2 ** 31) ? "(-2147483647i - 1i)" : n < 0 ? `(${n}i)` : `${n}i`;
    if (Number.isFinite(n)) {
      const s = Object.is(n, -0) ? "-0.0" : String(n);
      const text = /[.e]/.test(s) ? `${s}f` : `${s}.0f`;
      return n < 0 || Object.is(n, -0) ? `(${text})` : text;
    }
    // WGSL rejects infinities and NaN in constant expressions: build them from bits and a
    // private (hence non-constant) zero.
    needsZero = true;
    const bits = new Uint32Array(new Float32Array([n]).buffer)[0]!;
    return `bitcast<f32>(${bits}u + _zero)`;
  };

  const expr = (e: Expr): string => {
    switch (e.k) {
      case "lit":
        return lit(e.t, e.v);
      case "ref":
        return e.name;
      case "param":
        return `_P.${e.name}`;
      case "builtin":
        return e.name === "localIndex" ? "_lidx" : `${BUILTIN[e.name]}.${"xyz"[e.axis]}`;
      case "load": {
        const at = `${e.mem.name}[${expr(e.index)}]`;
        return e.mem.kind === "storage" && f16.has(e.mem.name) ? `f32(${at})` : at;
      }
      case "unary":
        return `(${e.op === "neg" ? "-" : e.op === "not" ? "!" : "~"}${expr(e.a)})`;
      case "binary":
        return `(${expr(e.a)} ${BINARY[e.op]} ${expr(e.b)})`;
      case "call": {
        const args = e.args.map(expr);
        if (e.fn === "packHalf2") return `pack2x16float(vec2<f32>(${args[0]}, ${args[1]}))`;
        if (e.fn === "unpackHalfLo" || e.fn === "unpackHalfHi") return `unpack2x16float(${args[0]}).${e.fn === "unpackHalfLo" ? "x" : "y"}`;
        return `${INTRINSIC[e.fn]}(${args.join(", ")})`;
      }
      case "select":
        return `select(${expr(e.no)}, ${expr(e.yes)}, ${expr(e.cond)})`;
      case "convert":
        return `${e.t}(${expr(e.a)})`;
      case "bitcast":
        // A constant operand would make a constant expression, which WGSL rejects when it is not a
        // finite f32: a private zero keeps it a run-time value.
        if (e.t === "f32" && isConstant(e.a)) {
          needsZero = true;
          return `bitcast<f32>(${expr(e.a)} + ${e.a.t === "i32" ? "i32(_zero)" : "_zero"})`;
        }
        return `bitcast<${e.t}>(${expr(e.a)})`;
    }
  };

  const lines: string[] = [];
  const stmt = (s: Stmt, pad: string): void => {
    const block = (body: readonly Stmt[]) => body.forEach((b) => stmt(b, `${pad}  `));
    switch (s.k) {
      case "let":
        lines.push(`${pad}let ${s.name} = ${bare(expr(s.value))};`);
        break;
      case "var":
        lines.push(`${pad}var ${s.name}: ${s.t} = ${bare(expr(s.value))};`);
        break;
      case "assign":
        lines.push(`${pad}${s.name} = ${bare(expr(s.value))};`);
        break;
      case "store": {
        const v = expr(s.value);
        lines.push(`${pad}${s.mem.name}[${expr(s.index)}] = ${s.mem.kind === "storage" && f16.has(s.mem.name) ? `f16(${v})` : v};`);
        break;
      }
      case "array":
        lines.push(`${pad}var ${s.name}: array<${s.t}, ${s.size}>;`);
        break;
      case "atomic":
        lines.push(`${pad}let ${s.result ?? "_"} = ${ATOMIC[s.op]}(&${s.mem.name}[${expr(s.index)}], ${expr(s.value)});`);
        break;
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
        lines.push(`${pad}for (var ${s.name}: ${s.t} = ${expr(s.init)}; ${bare(expr(s.cond))}; ${s.name} = ${bare(expr(s.update))}) {`);
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
      case "return":
        lines.push(`${pad}${s.k};`);
        break;
      case "barrier":
        lines.push(`${pad}workgroupBarrier();`);
        break;
    }
  };
  for (const s of ir.body) stmt(s, "  ");

  const head: string[] = [`// ${ir.name} (${ir.entry})`];
  if (f16.size) head.push("enable f16;");
  ir.storage.forEach((b, i) => {
    const elem = b.atomic ? `atomic<${b.elem}>` : b.elem;
    head.push(`@group(0) @binding(${i}) var<storage, ${b.access}> ${b.name}: array<${elem}>;`);
  });
  if (ir.params.length) {
    head.push(`struct Params { ${ir.params.map((p) => `${p.name}: ${p.t}`).join(", ")} }`);
    head.push(`@group(0) @binding(${ir.storage.length}) var<uniform> _P: Params;`);
  }
  for (const s of ir.shared) head.push(`var<workgroup> ${s.name}: array<${s.atomic ? `atomic<${s.t}>` : s.t}, ${s.size}>;`);
  for (const c of ir.consts) head.push(`const ${c.name} = array<${c.t}, ${c.values.length}>(${c.values.map((v) => lit(c.t, v)).join(", ")});`);
  if (needsZero) head.push("var<private> _zero: u32 = 0u;");
  const [x, y, z] = ir.workgroupSize;
  head.push(
    `@compute @workgroup_size(${x}, ${y}, ${z})`,
    "fn main(@builtin(global_invocation_id) _gid: vec3<u32>, @builtin(local_invocation_id) _lid: vec3<u32>, @builtin(workgroup_id) _wid: vec3<u32>, @builtin(num_workgroups) _nwg: vec3<u32>, @builtin(local_invocation_index) _lidx: u32) {",
  );
  return `${head.join("\n")}\n${lines.join("\n")}\n}\n`;
}
