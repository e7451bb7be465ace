import { defineKernel } from "../lang/kernel.js";
import { elementIndex, guard } from "../lang/std.js";
import { exp, f32 } from "../lang/values.js";
import { elementGrid } from "./grid.js";
import { single, type KernelFactory } from "./types.js";

// The mamba family's selective scan, keyed by op name (this package does not import mamba).

type SelectiveScanSpec = { readonly batch: number; readonly len: number; readonly e: number; readonly n: number; readonly h0: boolean };

/**
 * mamba.selectiveScan: h_t = exp(Δ_t A) h_(t−1) + (Δ_t x_t) B_t, one invocation per state
 * (b, e, n) stepping through the tokens: one pass over the states per token where the
 * decomposition makes five, through [B, T, E, N] temporaries. Neighbouring invocations (the next
 * n) read neighbouring A and B and write neighbouring h; Δ and x are shared by N of them.
 *   delta [B, T, E], A [E, N], B [B, T, N], x [B, T, E], optional h0 [B, E, N] → h [B, T, E, N]
 */
const selectiveScanKernel = defineKernel("mamba.selectiveScan", (k, spec: SelectiveScanSpec) => {
  const { len, e, n } = spec;
  const delta = k.input("delta", "f32");
  const a = k.input("a", "f32");
  const bIn = k.input("b", "f32");
  const x = k.input("x", "f32");
  const h0 = spec.h0 ? k.input("h0", "f32") : undefined;
  const y = k.output("y", "f32");
  const i = elementIndex(k);
  guard(k, i, spec.batch * e * n);
  const s = k.let("s", i.rem(n));
  const c = k.let("c", i.div(n).rem(e));
  const row = k.let("row", i.div(n * e));
  const decayRate = k.let("a_cs", a.at(c.mul(n).add(s)));
  const h = k.var("h", h0 ? h0.at(i) : f32(0));
  k.range("t", 0, len, (t) => {
    const token = k.let("token", row.mul(len).add(t));
    const d = k.let("d", delta.at(token.mul(e).add(c)));
    const input = k.let("input", d.mul(x.at(token.mul(e).add(c))).mul(bIn.at(token.mul(n).add(s))));
    h.set(exp(d.mul(decayRate)).mul(h).add(input));
    y.set(token.mul(e).add(c).mul(n).add(s), h);
  });
});

export const selectiveScanNode: KernelFactory = (node, inputs) => {
  const [batch, len, e, n] = node.shape as [number, number, number, number];
  const spec: SelectiveScanSpec = { batch, len, e, n, h0: inputs.length === 5 };
  return single(selectiveScanKernel.specialize(spec), elementGrid(batch * e * n), inputs.length);
};
