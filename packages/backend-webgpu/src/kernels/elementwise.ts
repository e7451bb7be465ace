import { BackendError, numel } from "@densessm/core";
import type { KernelFactory } from "./types.js";
import { single } from "./types.js";
import { bindings, broadcastFn, elementGrid, elementwiseMain, wgslType } from "./wgsl.js";

const UNARY: Readonly<Record<string, (x: string) => string>> = {
  neg: (x) => `-${x}`,
  exp: (x) => `exp(${x})`,
  log: (x) => `log(${x})`,
  sin: (x) => `sin_f32(${x})`,
  cos: (x) => `cos_f32(${x})`,
  sqrt: (x) => `sqrt(${x})`,
  recip: (x) => `1.0 / ${x}`,
  // Fused composites: the same formulas as backend-cpu's fused kernels.
  sigmoid: (x) => `1.0 / (1.0 + exp(-${x}))`,
  silu: (x) => `${x} / (1.0 + exp(-${x}))`,
  softplus: (x) => `max(${x}, 0.0) + log(1.0 + exp(-abs(${x})))`,
};

/** Binary ops; comparisons produce float 0/1 masks whatever the operand dtype. */
const BINARY: Readonly<Record<string, (a: string, b: string) => string>> = {
  add: (a, b) => `${a} + ${b}`,
  sub: (a, b) => `${a} - ${b}`,
  mul: (a, b) => `${a} * ${b}`,
  div: (a, b) => `${a} / ${b}`,
  maximum: (a, b) => `max(${a}, ${b})`,
  less: (a, b) => `select(0.0, 1.0, ${a} < ${b})`,
  equal: (a, b) => `select(0.0, 1.0, ${a} == ${b})`,
};

/**
 * sin and cos to float32 accuracy. WGSL only promises an absolute error of 2^-11 for its built-ins
 * (SwiftShader is off by 1e-4), too coarse for rotary angles; this is Cephes' sinf/cosf: a
 * three-part Cody-Waite reduction by pi/2 and minimax polynomials on [-pi/4, pi/4].
 */
const TRIG = `
fn sincos_poly(x: f32, quadrant: i32) -> f32 {
  let j = round(x * 0.63661977236758134);
  let r = ((x - j * 1.5703125) - j * 4.837512969970703125e-4) - j * 7.54978995489188216e-8;
  let z = r * r;
  let s = ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * r + r;
  let c = ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) * z * z - 0.5 * z + 1.0;
  let q = (i32(j) + quadrant) & 3;
  if (q == 0) { return s; }
  if (q == 1) { return c; }
  if (q == 2) { return -s; }
  return -c;
}
fn sin_f32(x: f32) -> f32 { return sincos_poly(x, 0); }
fn cos_f32(x: f32) -> f32 { return sincos_poly(x, 1); }
`;

export const unaryKernel: KernelFactory = (node) => {
  const f = UNARY[node.op];
  if (!f) throw new BackendError(`webgpu: no unary kernel for "${node.op}"`);
  const n = numel(node.shape);
  const t = wgslType(node.dtype);
  // exp(-x) overflows to inf for very negative x; 1/(1+inf) is 0 and x/inf is -0, as on the CPU.
  const code = `${bindings([{ name: "x", type: t }], { name: "y", type: t })}
${node.op === "sin" || node.op === "cos" ? TRIG : ""}
${elementwiseMain(n, `  let v = x[i];\n  y[i] = ${f("v")};`)}`;
  return single(code, elementGrid(n), 1);
};

export const binaryKernel: KernelFactory = (node, [a, b]) => {
  const f = BINARY[node.op];
  if (!f) throw new BackendError(`webgpu: no binary kernel for "${node.op}"`);
  const n = numel(node.shape);
  const code = `${bindings([{ name: "a", type: wgslType(a!.dtype) }, { name: "b", type: wgslType(b!.dtype) }], { name: "y", type: wgslType(node.dtype) })}
${broadcastFn("offA", a!.shape, node.shape)}
${broadcastFn("offB", b!.shape, node.shape)}
${elementwiseMain(n, `  y[i] = ${f("a[offA(i)]", "b[offB(i)]")};`)}`;
  return single(code, elementGrid(n), 2);
};

export const whereKernel: KernelFactory = (node, [c, a, b]) => {
  const n = numel(node.shape);
  const t = wgslType(node.dtype);
  const zero = wgslType(c!.dtype) === "i32" ? "0i" : "0.0";
  const code = `${bindings([{ name: "c", type: wgslType(c!.dtype) }, { name: "a", type: t }, { name: "b", type: t }], { name: "y", type: t })}
${broadcastFn("offC", c!.shape, node.shape)}
${broadcastFn("offA", a!.shape, node.shape)}
${broadcastFn("offB", b!.shape, node.shape)}
${elementwiseMain(n, `  y[i] = select(b[offB(i)], a[offA(i)], c[offC(i)] != ${zero});`)}`;
  return single(code, elementGrid(n), 3);
};
