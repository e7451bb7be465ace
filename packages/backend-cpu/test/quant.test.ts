import { conformanceSuite, dequantizeWeight, worstOverRoundingBound, type Capabilities, init, ops, quantizeWeight, Rng, Session, Tensor, trace, type QuantAttrs } from "@densessm/core";
import { describe, expect, it } from "vitest";
import { CpuBackend } from "../src/index.js";
import { quantModule } from "../src/kernels/quant-simd.js";

const random = (shape: number[], seed: number, scale = 1): Tensor => init.uniform(shape, -scale, scale, new Rng(seed));

// The SIMD kernels round each activation to a multiple of its block's max|x| / 32767.
const INT16_LEVELS = 32767;

const simd = quantModule() !== null;
if (!simd) console.warn("!! backend-cpu quant tests: this engine has no WebAssembly SIMD; the SIMD kernel checks below run the JS path");

describe("quantizedMatmul on backend-cpu", () => {
  const cases: [bits: 8 | 4, group: number, m: number, n: number, cols: number][] = [
    [8, 0, 1, 37, 300],
    [8, 0, 9, 5, 128],
    [8, 0, 6, 64, 1536],
    [4, 32, 1, 33, 96],
    [4, 64, 7, 9, 200],
    [4, 128, 5, 16, 384],
  ];
  for (const [bits, group, m, n, cols] of cases) {
    const groupSize = bits === 8 ? cols : group;
    it(`${bits}-bit${bits === 4 ? `, groups of ${group}` : ""}: ${m} x ${cols} @ [${n}, ${cols}]ᵀ is within the activation-rounding bound of the float reference`, async () => {
      const q = quantizeWeight(random([n, cols], n * 31 + cols, 0.1), { bits, groupSize });
      const w = dequantizeWeight(q, { bits, groupSize }, cols).toFloat32();
      const x = random([m, cols], m + cols);
      const attrs: QuantAttrs = { bits, groupSize, cols };
      // Codes and scales as parameters (the resident path models use), run twice to use the cached copy.
      const graph = trace(({ x }, b) => ({ y: ops.quantizedMatmul(x!, b.param("codes", q.codes.shape, q.codes.dtype), b.param("scale", q.scale.shape), attrs) }), { inputs: { x: { shape: [m, cols] } } });
      const session = new Session(new CpuBackend());
      session.setParameters([["codes", q.codes], ["scale", q.scale]]);
      for (let run = 0; run < 2; run++) {
        const y = (await session.run(graph, { x })).y!.toFloat32();
        expect(worstOverRoundingBound(y, x.toFloat32(), w, { m, n, cols }, { block: bits === 8 ? 128 : group, levels: INT16_LEVELS })).toBeLessThanOrEqual(1);
      }
    });
  }

  it("picks up new scales for the same codes (a re-bound parameter)", async () => {
    const q = quantizeWeight(random([8, 64], 3, 0.1), { bits: 4, groupSize: 32 });
    const attrs: QuantAttrs = { bits: 4, groupSize: 32, cols: 64 };
    const graph = trace(({ x }, b) => ({ y: ops.quantizedMatmul(x!, b.param("codes", [8, 32], "uint8"), b.param("scale", [8, 2]), attrs) }), { inputs: { x: { shape: [1, 64] } } });
    const session = new Session(new CpuBackend());
    const x = random([1, 64], 4);
    session.setParameters([["codes", q.codes], ["scale", q.scale]]);
    const first = (await session.run(graph, { x })).y!.toFloat32();
    session.setParameters([["scale", new Tensor(q.scale.toFloat32().map((v) => 2 * v), q.scale.shape, "float32")]]);
    const second = (await session.run(graph, { x })).y!.toFloat32();
    second.forEach((v, i) => expect(v).toBeCloseTo(2 * first[i]!, 5));
  });
});

/** A cpu backend that, like webgpu today, holds no int8/uint8 and has no quantized kernels. */
class PlainCpuBackend extends CpuBackend {
  override readonly capabilities = {
    ops: new Set([...new CpuBackend().capabilities.ops].filter((op) => op !== "quantizedMatmul" && op !== "dequantize")),
    dtypes: ["float32", "int32"] as const,
  } satisfies Capabilities;
}

describe("a backend without int8 storage or quantized kernels", () => {
  const session = new Session(new PlainCpuBackend());
  // Codes travel as int32 (Session.widenStorage) and the ops run as their decompositions.
  for (const c of conformanceSuite({ dtypes: ["float32", "int32"] }).filter((c) => c.op === "quantizedMatmul" || c.op === "dequantize")) {
    it(c.name, () => c.run(session));
  }
});
