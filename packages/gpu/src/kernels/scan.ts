import { defineKernel } from "../lang/kernel.js";
import { elementIndex, groupIndex, guard } from "../lang/std.js";
import { f32, u32, type Val } from "../lang/values.js";
import { aroundAxis, elementGrid, grid } from "./grid.js";
import { single, type KernelFactory } from "./types.js";

/** Lanes below this, with steps at or above CHUNKED_STEPS, use the chunked parallel scan. */
const FEW_LANES = 4096;
const CHUNKED_STEPS = 128;
const CHUNKS = 64;

type ScanSpec = { readonly lanes: number; readonly steps: number; readonly inner: number; readonly reverse: boolean; readonly h0: boolean };

/**
 * h_t = a_t h_(t-1) + b_t along the axis, one invocation per lane (an (outer, inner) pair) stepping
 * serially: the inner axis is contiguous, so neighbouring invocations read neighbouring words.
 */
const serialScan = defineKernel("scan", (k, spec: ScanSpec) => {
  const a = k.input("a", "f32");
  const b = k.input("b", "f32");
  const h0 = spec.h0 ? k.input("h0", "f32") : undefined;
  const y = k.output("y", "f32");
  const i = elementIndex(k);
  guard(k, i, spec.lanes);
  const p = k.let("p", i.div(spec.inner));
  const q = k.let("q", i.rem(spec.inner));
  const h = k.var("h", h0 ? h0.at(p.mul(spec.inner).add(q)) : f32(0));
  k.range("s", 0, spec.steps, (s) => {
    const at = k.let("at", p.mul(spec.steps).add(spec.reverse ? u32(spec.steps - 1).sub(s) : s).mul(spec.inner).add(q));
    h.set(a.at(at).mul(h).add(b.at(at)));
    y.set(at, h);
  });
});

/**
 * Long, narrow scans (few lanes, many steps: prefill of a small batch): one workgroup per lane
 * splits its steps into CHUNKS chunks scanned in parallel. Each chunk first computes its local
 * (product of a, state from zero), the chunk carries are combined, then every chunk rescans from
 * its carry.
 */
const chunkedScan = defineKernel("scan.chunked", (k, spec: ScanSpec) => {
  k.workgroupSize(CHUNKS);
  const a = k.input("a", "f32");
  const b = k.input("b", "f32");
  const h0 = spec.h0 ? k.input("h0", "f32") : undefined;
  const y = k.output("y", "f32");
  const cprod = k.shared("cprod", "f32", CHUNKS);
  const cstate = k.shared("cstate", "f32", CHUNKS);
  const tid = k.localIndex;
  const item = groupIndex(k);
  guard(k, item, spec.lanes);
  const p = k.let("p", item.div(spec.inner));
  const q = k.let("q", item.rem(spec.inner));
  const per = Math.ceil(spec.steps / CHUNKS);
  const s0 = k.let("s0", tid.mul(per).min(spec.steps));
  const s1 = k.let("s1", s0.add(per).min(spec.steps));
  const at = (s: Val<"u32">) => k.let("at", p.mul(spec.steps).add(spec.reverse ? u32(spec.steps - 1).sub(s) : s).mul(spec.inner).add(q));
  const prod = k.var("prod", "f32", 1);
  const h = k.var("h", "f32", 0);
  k.range("s", s0, s1, (s) => {
    const t = at(s);
    h.set(a.at(t).mul(h).add(b.at(t)));
    prod.set(prod.mul(a.at(t)));
  });
  cprod.set(tid, prod);
  cstate.set(tid, h);
  k.barrier();
  k.if(tid.eq(0), () => {
    const carry = k.var("carry", h0 ? h0.at(p.mul(spec.inner).add(q)) : f32(0));
    k.range("c", 0, CHUNKS, (c) => {
      const next = k.let("next", cprod.at(c).mul(carry).add(cstate.at(c)));
      cstate.set(c, carry);
      carry.set(next);
    });
  });
  k.barrier();
  h.set(cstate.at(tid));
  k.range("s", s0, s1, (s) => {
    const t = at(s);
    h.set(a.at(t).mul(h).add(b.at(t)));
    y.set(t, h);
  });
});

export const scanNode: KernelFactory = (node, inputs) => {
  const [outer, steps, inner] = aroundAxis(node.shape, node.attrs.axis as number);
  const spec: ScanSpec = { lanes: outer * inner, steps, inner, reverse: node.attrs.reverse as boolean, h0: inputs.length === 3 };
  if (steps >= CHUNKED_STEPS && spec.lanes < FEW_LANES) return single(chunkedScan.specialize(spec), grid(spec.lanes), inputs.length);
  return single(serialScan.specialize(spec), elementGrid(spec.lanes), inputs.length);
};

/** Uniform noise from core's lowbias32 hash of (seed, index): bit-identical to hashUniform. */
const randKernel = defineKernel("rand", (k, spec: { n: number }) => {
  const seed = k.input("seed", "i32");
  const y = k.output("y", "f32");
  const i = elementIndex(k);
  guard(k, i, spec.n);
  const x = k.var("x", i.xor(seed.at(0).bitcast("u32").mul(0x9e3779b9)));
  x.set(x.xor(x.shr(16)));
  x.set(x.mul(0x7feb352d));
  x.set(x.xor(x.shr(15)));
  x.set(x.mul(0x846ca68b));
  x.set(x.xor(x.shr(16)));
  y.set(i, x.shr(8).f32().div(16777216));
});

export const randNode: KernelFactory = (node) => {
  const n = node.shape.reduce((a, b) => a * b, 1);
  return single(randKernel.specialize({ n }), elementGrid(n), 1);
};
