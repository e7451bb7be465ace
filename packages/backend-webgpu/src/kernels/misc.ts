import { numel, type DType } from "@densessm/core";
import type { KernelFactory } from "./types.js";
import { single } from "./types.js";
import { aroundAxis, bindings, elementGrid, elementwiseMain, grid, groupMain, HALF_ROUNDING, u32Lit, wgslType } from "./wgsl.js";

/** The WGSL expression converting `v` (read as `from`'s word type) to the value `to` holds. */
function convertExpr(v: string, from: DType, to: DType): string {
  if (to === "int32") return from === "int32" ? v : `i32(${v})`; // f32 -> i32 truncates toward zero
  const f = from === "int32" ? `f32(${v})` : v;
  if (to === "float16") return `round_f16(${f})`;
  if (to === "bfloat16") return `round_bf16(${f})`;
  return f; // float16/bfloat16 values are exact in f32
}

export const castKernel: KernelFactory = (node, [x]) => {
  const n = numel(node.shape);
  const needsRounding = node.dtype === "float16" || node.dtype === "bfloat16";
  const code = `${bindings([{ name: "x", type: wgslType(x!.dtype) }], { name: "y", type: wgslType(node.dtype) })}
${needsRounding ? HALF_ROUNDING : ""}
${elementwiseMain(n, `  y[i] = ${convertExpr("x[i]", x!.dtype, node.dtype)};`)}`;
  return single(code, elementGrid(n), 1);
};

/** Lanes below this, with steps at or above CHUNKED_STEPS, use the chunked parallel scan. */
const FEW_LANES = 4096;
const CHUNKED_STEPS = 128;
const CHUNKS = 64;

/**
 * h_t = a_t h_(t-1) + b_t along the axis. Short or wide scans run one thread per lane (an
 * (outer, inner) pair), stepping serially: the inner axis is contiguous, so neighbouring threads
 * read neighbouring words. Long, narrow scans (few lanes, many steps: prefill of a small batch)
 * split each lane's steps into CHUNKS chunks scanned in parallel by one workgroup: each chunk
 * first computes its local (product of a, state from zero), the chunk carries are combined, then
 * every chunk rescans from its carry.
 */
export const scanKernel: KernelFactory = (node, inputs) => {
  const axis = node.attrs.axis as number;
  const reverse = node.attrs.reverse as boolean;
  const [outer, steps, inner] = aroundAxis(node.shape, axis);
  const lanes = outer * inner;
  const hasH0 = inputs.length === 3;
  const ins = [{ name: "a", type: "f32" as const }, { name: "b", type: "f32" as const }];
  if (hasH0) ins.push({ name: "h0", type: "f32" });
  const head = bindings(ins, { name: "y", type: "f32" });
  const start = hasH0 ? "h0[p * INNER + q]" : "0.0";
  // Step s of the scan visits time index t(s).
  const timeOf = (s: string) => (reverse ? `(${u32Lit(steps - 1)} - ${s})` : s);
  const consts = `const INNER = ${u32Lit(inner)};\nconst STEPS = ${u32Lit(steps)};`;

  if (steps >= CHUNKED_STEPS && lanes < FEW_LANES) {
    const per = Math.ceil(steps / CHUNKS);
    const body = `  if (item >= ${u32Lit(lanes)}) { return; }
  let p = item / INNER;
  let q = item % INNER;
  let s0 = min(tid * ${per}u, STEPS);
  let s1 = min(s0 + ${per}u, STEPS);
  var prod = 1.0;
  var h = 0.0;
  for (var s = s0; s < s1; s++) {
    let at = (p * STEPS + ${timeOf("s")}) * INNER + q;
    h = a[at] * h + b[at];
    prod = prod * a[at];
  }
  cprod[tid] = prod;
  cstate[tid] = h;
  workgroupBarrier();
  if (tid == 0u) {
    var carry = ${start};
    for (var c = 0u; c < ${CHUNKS}u; c++) {
      let next = cprod[c] * carry + cstate[c];
      cstate[c] = carry;
      carry = next;
    }
  }
  workgroupBarrier();
  h = cstate[tid];
  for (var s = s0; s < s1; s++) {
    let at = (p * STEPS + ${timeOf("s")}) * INNER + q;
    h = a[at] * h + b[at];
    y[at] = h;
  }`;
    const code = `${head}\n${consts}\nvar<workgroup> cprod: array<f32, ${CHUNKS}>;\nvar<workgroup> cstate: array<f32, ${CHUNKS}>;\n${groupMain(CHUNKS, body)}`;
    return single(code, grid(lanes), inputs.length);
  }

  const body = `  let p = i / INNER;
  let q = i % INNER;
  var h = ${start};
  for (var s = 0u; s < STEPS; s++) {
    let at = (p * STEPS + ${timeOf("s")}) * INNER + q;
    h = a[at] * h + b[at];
    y[at] = h;
  }`;
  return single(`${head}\n${consts}\n${elementwiseMain(lanes, body)}`, elementGrid(lanes), inputs.length);
};

/** Uniform noise from core's lowbias32 hash of (seed, index): bit-identical to hashUniform. */
export const randKernel: KernelFactory = (node) => {
  const n = numel(node.shape);
  const body = `  var x = i ^ (bitcast<u32>(seed[0]) * 0x9e3779b9u);
  x = x ^ (x >> 16u);
  x = x * 0x7feb352du;
  x = x ^ (x >> 15u);
  x = x * 0x846ca68bu;
  x = x ^ (x >> 16u);
  y[i] = f32(x >> 8u) / 16777216.0;`;
  const code = `${bindings([{ name: "seed", type: "i32" }], { name: "y", type: "f32" })}\n${elementwiseMain(n, body)}`;
  return single(code, elementGrid(n), 1);
};
