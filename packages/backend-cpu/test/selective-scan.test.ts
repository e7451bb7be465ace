// The mamba.selectiveScan kernel's WebAssembly SIMD path against its JS path (which gives the
// decomposition's bits; packages/mamba's suite checks both against a float64 reference).
import { Rng, Tensor, type Node } from "@densessm/core";
import { describe, expect, it } from "vitest";
import { expSimd } from "../src/kernels/exp-simd.js";
import { scanJs, selectiveScanKernel } from "../src/kernels/selective-scan.js";

const rng = new Rng(11);
const uniform = (size: number, lo: number, hi: number) => Float32Array.from({ length: size }, () => lo + (hi - lo) * rng.uniform());

describe("the selective scan's WebAssembly SIMD kernel", () => {
  const simd = expSimd();

  it("instantiates on this engine (Node has WebAssembly SIMD)", () => {
    expect(simd).not.toBeNull();
  });

  it("computes e^x to within 2 float32 ulps over the whole float32 range, keeps NaN, and clamps below 2^-126", () => {
    const xs = Float32Array.from({ length: 200_000 }, (_, i) => -87.3 + (i / 199_999) * (88.3 + 87.3));
    const special = Float32Array.of(NaN, -Infinity, -1000, -90, 0, -0, 1e-30);
    const mem = simd!.floats(xs.length + 8);
    mem.set(xs);
    mem.set(special, xs.length);
    simd!.exp(0, (xs.length + 8) / 4);
    let worst = 0;
    for (let i = 0; i < xs.length; i++) worst = Math.max(worst, Math.abs(mem[i]! - Math.exp(xs[i]!)) / Math.exp(xs[i]!));
    expect(worst).toBeLessThan(2 ** -22);
    const [nan, minusInf, minus1000, minus90, zero, minusZero, tiny] = mem.subarray(xs.length, xs.length + 7);
    expect(nan).toBeNaN();
    for (const v of [minusInf, minus1000, minus90]) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThan(1.2e-38);
    }
    expect([zero, minusZero, tiny]).toEqual([1, 1, 1]);
  });

  it.each([
    ["a decoding step of 64 rows", 64, 1, true],
    ["a chunk of 7 tokens from a state", 2, 7, true],
    ["a chunk of 5 tokens from zeros", 3, 5, false],
  ] as const)("agrees with the JS path to 1e-6 of the state's scale: %s", (_, batch, len, withH0) => {
    const [e, n] = [24, 16];
    const inputs = [uniform(batch * len * e, 0.001, 3), uniform(e * n, -16, -0.5), uniform(batch * len * n, -2, 2), uniform(batch * len * e, -3, 3)];
    const h0 = withH0 ? uniform(batch * e * n, -1, 1) : undefined;
    const shapes = [[batch, len, e], [e, n], [batch, len, n], [batch, len, e], [batch, e, n]];
    const tensors = [...inputs, ...(h0 ? [h0] : [])].map((data, i) => new Tensor(data, shapes[i]!, "float32"));
    const node = { id: 0, op: "mamba.selectiveScan", inputs: [], attrs: {}, shape: [batch, len, e, n], dtype: "float32" } as unknown as Node;
    const fused = selectiveScanKernel(node, [])(tensors, (_, size) => new Float32Array(size)).data as Float32Array;
    const reference = new Float32Array(batch * len * e * n);
    scanJs(inputs[0]!, inputs[1]!, inputs[2]!, inputs[3]!, h0, reference, [batch, len, e, n]);
    let worst = 0;
    for (let i = 0; i < reference.length; i++) worst = Math.max(worst, Math.abs(fused[i]! - reference[i]!) / Math.max(1, Math.abs(reference[i]!)));
    expect(worst).toBeLessThan(1e-6);
    expect(fused.some((v, i) => v !== reference[i])).toBe(true); // the SIMD path ran: its exp is not Math.exp
  });
});
