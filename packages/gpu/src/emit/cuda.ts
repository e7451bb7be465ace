import type { BinaryOp, Elem, Expr, Intrinsic, KernelIR, Scalar, Stmt } from "../lang/ir.js";
import { bare } from "./bare.js";

// CUDA C++: one self-contained translation unit per specialization that compiles with nvcc or
// NVRTC and includes no header. Workgroup -> block, invocation -> thread, barrier ->
// __syncthreads(), workgroup arrays -> __shared__. The kernel's arguments are its storage buffers
// (pointers, in declaration order) followed by its parameters (by value, in declaration order).

const C_TYPE: Readonly<Record<Scalar | Elem, string>> = { f32: "float", i32: "int", u32: "unsigned int", bool: "bool", f16: "unsigned short" };

const BINARY: Readonly<Record<BinaryOp, string>> = {
  add: "+", sub: "-", mul: "*", div: "/", rem: "%",
  lt: "<", le: "<=", gt: ">", ge: ">=", eq: "==", ne: "!=",
  and: "&&", or: "||", bitAnd: "&", bitOr: "|", bitXor: "^", shl: "<<", shr: ">>",
};

const FLOAT_FN: Partial<Readonly<Record<Intrinsic, string>>> = {
  exp: "expf", log: "logf", sqrt: "sqrtf", inverseSqrt: "rsqrtf", tanh: "tanhf", sin: "sinf", cos: "cosf", abs: "fabsf",
  floor: "floorf", ceil: "ceilf", round: "rintf", trunc: "truncf", min: "fminf", max: "fmaxf", fma: "fmaf",
};

const ATOMIC = { add: "atomicAdd", sub: "atomicSub", max: "atomicMax", min: "atomicMin", and: "atomicAnd", or: "atomicOr", xor: "atomicXor", exchange: "atomicExch" } as const;

/**
 * Half-precision conversions through PTX (round to nearest even), so no cuda_fp16.h is needed;
 * guarded, so several kernels' sources can be compiled as one translation unit.
 */
const HALF_HELPERS = `#ifndef DENSESSM_HALF_HELPERS
#define DENSESSM_HALF_HELPERS
static __device__ __forceinline__ unsigned short _f2h(float f) { unsigned short h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h; }
static __device__ __forceinline__ float _h2f(unsigned short h) { float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h)); return f; }
#endif`;

export function emitCuda(ir: KernelIR): string {
  let usesHalf = ir.storage.some((s) => s.elem === "f16");
  const f16 = new Set(ir.storage.filter((s) => s.elem === "f16").map((s) => s.name));
  const [sx, sy] = ir.workgroupSize;

  const lit = (t: Scalar, v: number | boolean): string => {
    if (t === "bool") return String(v);
    const n = v as number;
    if (t === "u32") return `${n}u`;
    if (t === "i32") return n === -(2 ** 31) ? "(-2147483647 - 1)" : n < 0 ? `(${n})` : `${n}`;
    if (!Number.isFinite(n)) return `__int_as_float(${new Int32Array(new Float32Array([n]).buffer)[0]!})`;
    const s = Object.is(n, -0) ? "-0.0" : String(n);
    const text = /[.e]/.test(s) ? `${s}f` : `${s}.0f`;
    return n < 0 || Object.is(n, -0) ? `(${text})` : text;
  };

  const builtin = (name: string, axis: number): string => {
    const a = "xyz"[axis]!;
    switch (name) {
      case "globalId":
        return `(blockIdx.${a} * blockDim.${a} + threadIdx.${a})`;
      case "localId":
        return `threadIdx.${a}`;
      case "groupId":
        return `blockIdx.${a}`;
      case "numGroups":
        return `gridDim.${a}`;
      default:
        return `(threadIdx.x + threadIdx.y * ${sx}u + threadIdx.z * ${sx * sy}u)`;
    }
  };

  const convert = (t: Scalar, from: Scalar, a: string): string => {
    if (from === "bool") return `(${a} ? ${lit(t, t === "f32" ? 1 : 1)} : ${lit(t, 0)})`;
    if (from === "f32" && t === "i32") return `__float2int_rz(${a})`;
    if (from === "f32" && t === "u32") return `__float2uint_rz(${a})`;
    return `((${C_TYPE[t]})(${a}))`;
  };

  const bitcast = (t: Scalar, from: Scalar, a: string): string => {
    if (from === "f32" && t === "u32") return `__float_as_uint(${a})`;
    if (from === "f32" && t === "i32") return `__float_as_int(${a})`;
    if (t === "f32" && from === "u32") return `__uint_as_float(${a})`;
    if (t === "f32" && from === "i32") return `__int_as_float(${a})`;
    return `((${C_TYPE[t]})(${a}))`;
  };

  const expr = (e: Expr): string => {
    switch (e.k) {
      case "lit":
        return lit(e.t, e.v);
      case "ref":
      case "param":
        return e.name;
      case "builtin":
        return builtin(e.name, e.axis);
      case "load": {
        const at = `${e.mem.name}[${expr(e.index)}]`;
        return e.mem.kind === "storage" && f16.has(e.mem.name) ? `_h2f(${at})` : at;
      }
      case "unary":
        return `(${e.op === "neg" ? "-" : e.op === "not" ? "!" : "~"}${expr(e.a)})`;
      case "binary":
        if (e.op === "rem" && e.t === "f32") return `fmodf(${expr(e.a)}, ${expr(e.b)})`;
        return `(${expr(e.a)} ${BINARY[e.op]} ${expr(e.b)})`;
      case "call": {
        const args = e.args.map(expr);
        if (e.fn === "packHalf2") {
          usesHalf = true;
          return `((unsigned int)_f2h(${args[0]}) | ((unsigned int)_f2h(${args[1]}) << 16))`;
        }
        if (e.fn === "unpackHalfLo" || e.fn === "unpackHalfHi") {
          usesHalf = true;
          return e.fn === "unpackHalfLo" ? `_h2f((unsigned short)(${args[0]} & 0xffffu))` : `_h2f((unsigned short)(${args[0]} >> 16))`;
        }
        if (e.t === "f32") {
          if (e.fn === "clamp") return `fminf(fmaxf(${args[0]}, ${args[1]}), ${args[2]})`;
          return `${FLOAT_FN[e.fn]}(${args.join(", ")})`;
        }
        if (e.fn === "clamp") return `min(max(${args[0]}, ${args[1]}), ${args[2]})`;
        return `${e.fn}(${args.join(", ")})`; // min, max, abs on integers
      }
      case "select":
        return `(${expr(e.cond)} ? ${expr(e.yes)} : ${expr(e.no)})`;
      case "convert":
        return convert(e.t, e.a.t, expr(e.a));
      case "bitcast":
        return bitcast(e.t, e.a.t, expr(e.a));
    }
  };

  const lines: string[] = [];
  const stmt = (s: Stmt, pad: string): void => {
    const block = (body: readonly Stmt[]) => body.forEach((b) => stmt(b, `${pad}  `));
    switch (s.k) {
      case "let":
        lines.push(`${pad}const ${C_TYPE[s.value.t]} ${s.name} = ${bare(expr(s.value))};`);
        break;
      case "var":
        lines.push(`${pad}${C_TYPE[s.t]} ${s.name} = ${bare(expr(s.value))};`);
        break;
      case "assign":
        lines.push(`${pad}${s.name} = ${bare(expr(s.value))};`);
        break;
      case "store": {
        const v = expr(s.value);
        lines.push(`${pad}${s.mem.name}[${expr(s.index)}] = ${s.mem.kind === "storage" && f16.has(s.mem.name) ? `_f2h(${v})` : v};`);
        break;
      }
      case "array":
        lines.push(`${pad}${C_TYPE[s.t]} ${s.name}[${s.size}] = {};`);
        break;
      case "atomic":
        lines.push(`${pad}${s.result ? `const ${C_TYPE[s.t]} ${s.result} = ` : ""}${ATOMIC[s.op]}(&${s.mem.name}[${expr(s.index)}], ${expr(s.value)});`);
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
        lines.push(`${pad}for (${C_TYPE[s.t]} ${s.name} = ${expr(s.init)}; ${bare(expr(s.cond))}; ${s.name} = ${bare(expr(s.update))}) {`);
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
        lines.push(`${pad}__syncthreads();`);
        break;
    }
  };
  for (const s of ir.body) stmt(s, "  ");

  const args = [
    ...ir.storage.map((b) => `${b.access === "read" ? "const " : ""}${C_TYPE[b.elem]}* __restrict__ ${b.name}`),
    ...ir.params.map((p) => `${C_TYPE[p.t]} ${p.name}`),
  ];
  const decls = [
    ...ir.shared.map((s) => `  __shared__ ${C_TYPE[s.t]} ${s.name}[${s.size}];`),
    ...ir.consts.map((c) => `  const ${C_TYPE[c.t]} ${c.name}[${c.values.length}] = {${c.values.map((v) => lit(c.t, v)).join(", ")}};`),
  ];
  const threads = ir.workgroupSize[0] * ir.workgroupSize[1] * ir.workgroupSize[2];
  return [
    `// ${ir.name} (${ir.entry}): block ${ir.workgroupSize.join("x")}`,
    ...(usesHalf ? [HALF_HELPERS] : []),
    `extern "C" __global__ void __launch_bounds__(${threads}) ${ir.entry}(${args.join(", ")}) {`,
    ...decls,
    ...lines,
    "}",
    "",
  ].join("\n");
}
