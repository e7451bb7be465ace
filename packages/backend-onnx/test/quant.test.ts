import type { Tensor} from "@densessm/core";
import { dequantizeWeight, init, ops, worstOverRoundingBound, quantizeWeight, Rng, Session, trace, type QuantAttrs } from "@densessm/core";
import { describe, expect, it } from "vitest";
import { decodeModel, encodeModel, loadNodeRuntime, loadWebRuntime, lowerGraph, OnnxBackend } from "../src/index.js";

const random = (shape: number[], seed: number, scale = 1): Tensor => init.uniform(shape, -scale, scale, new Rng(seed));

/** y = x Wᵀ of a quantized weight held as parameters (what a quantized Linear traces). */
function linearGraph(m: number, codes: Tensor, scale: Tensor, attrs: QuantAttrs) {
  return trace(({ x }, b) => ({ y: ops.quantizedMatmul(x!, b.param("codes", codes.shape, codes.dtype), b.param("scale", scale.shape), attrs) }), { inputs: { x: { shape: [m, attrs.cols] } } });
}

// onnxruntime-node's MatMulNBits (accuracy_level 4) rounds activations to int8 per block of
// `block` columns (scale max|x| / 127); onnxruntime-web's build multiplies in float.
const INT8_LEVELS = 127;

for (const [label, runtime] of [["onnxruntime-node", await loadNodeRuntime()], ["onnxruntime-web (wasm)", await loadWebRuntime()]] as const) {
  describe(`quantized weights on ${label}`, () => {
    const cases: [bits: 8 | 4, group: number, m: number, n: number, cols: number][] = [
      [8, 0, 1, 37, 300],
      [8, 0, 3, 64, 256],
      [4, 32, 1, 33, 96],
      [4, 64, 5, 9, 200],
      [4, 128, 2, 16, 384],
    ];
    for (const [bits, group, m, n, cols] of cases) {
      const groupSize = bits === 8 ? cols : group;
      it(`${bits}-bit${bits === 4 ? `, groups of ${group}` : ""}: ${m} x ${cols} @ [${n}, ${cols}]ᵀ, weights baked into MatMulNBits`, async () => {
        const q = quantizeWeight(random([n, cols], n + cols, 0.1), { bits, groupSize });
        const w = dequantizeWeight(q, { bits, groupSize }, cols).toFloat32();
        const x = random([m, cols], m);
        const session = new Session(new OnnxBackend(runtime));
        session.setParameters([["codes", q.codes], ["scale", q.scale]]);
        const y = (await session.run(linearGraph(m, q.codes, q.scale, { bits, groupSize, cols }), { x })).y!.toFloat32();
        expect(worstOverRoundingBound(y, x.toFloat32(), w, { m, n, cols }, { block: bits === 8 ? 128 : group, levels: INT8_LEVELS, slack: 0.05 })).toBeLessThanOrEqual(1);
      });
    }

    it("bakes the fed weights in again when the parameter changes", async () => {
      const attrs: QuantAttrs = { bits: 4, groupSize: 32, cols: 64 };
      const [a, b] = [quantizeWeight(random([4, 64], 1, 0.1), attrs), quantizeWeight(random([4, 64], 2, 0.1), attrs)];
      const graph = linearGraph(1, a.codes, a.scale, attrs);
      const session = new Session(new OnnxBackend(runtime));
      const x = random([1, 64], 3);
      const run = async (q: typeof a) => {
        session.setParameters([["codes", q.codes], ["scale", q.scale]]);
        return (await session.run(graph, { x })).y!.toFloat32();
      };
      const [first, second, again] = [await run(a), await run(b), await run(a)];
      expect(Array.from(first)).not.toEqual(Array.from(second));
      expect(Array.from(again)).toEqual(Array.from(first));
    });
  });
}

describe("quantized lowering", () => {
  it("maps 4-bit codes onto MatMulNBits byte for byte, and takes the exact path when the weights are graph inputs", () => {
    const attrs: QuantAttrs = { bits: 4, groupSize: 32, cols: 64 };
    const q = quantizeWeight(random([3, 64], 5, 0.1), attrs);
    const lowered = lowerGraph(linearGraph(1, q.codes, q.scale, attrs), { initializers: new Map([["codes", q.codes], ["scale", q.scale]]) });
    const model = decodeModel(encodeModel(lowered.model)) as { graph: { node: { op_type: string; attribute: { name: string; i?: number }[] }[]; initializer: { name: string; dims: number[]; raw_data: number[] }[] } };
    const node = model.graph.node.find((n) => n.op_type === "MatMulNBits")!;
    expect(Object.fromEntries(node.attribute.map((a) => [a.name, a.i]))).toMatchObject({ K: 64, N: 3, bits: 4, block_size: 32, accuracy_level: 4 });
    const b = model.graph.initializer.find((t) => t.name === "codes.matmul_nbits")!;
    expect(b.dims).toEqual([3, 2, 16]);
    expect(b.raw_data).toEqual(Array.from(q.codes.data));

    const fed = trace(({ x, c, s }) => ({ y: ops.quantizedMatmul(x!, c!, s!, attrs) }), { inputs: { x: { shape: [1, 64] }, c: { shape: [3, 32], dtype: "uint8" }, s: { shape: [3, 2] } } });
    const exact = (decodeModel(encodeModel(lowerGraph(fed).model)) as { graph: { node: { op_type: string }[] } }).graph.node.map((n) => n.op_type);
    expect(exact).not.toContain("MatMulNBits");
    expect(exact).toContain("BitShift");
  });
});
