// The fused quantized kernels (kernels/quant.ts) in the interpreter, debug mode, against core's
// reference decomposition (dequantize, then matmul) run on the same executor: the prefill (tiled)
// path and dequantize bit for bit, the matrix-vector path (decoding) to float32 rounding, in both
// matrix-vector forms, for int8 and 4-bit, word-aligned rows and rows that are not, padded groups.
// Also: int8/uint8 stay raw bytes on the device (gather, download, readers with no byte kernel).
import { CausalLM, ops, quantizeWeight, Session, Tensor, trace, type QuantAttrs, type SymTensor } from "@densessm/core";
import { fileURLToPath } from "node:url";
import "@densessm/retnet"; // registers the fixture's family
import { describe, expect, it } from "vitest";
import { InterpreterBackend } from "../src/index.js";
import { cpu, feedsOf, interp, maxAbsDiff, randn } from "./helpers.js";

const workgroup = new Session(new InterpreterBackend({ matvec: "workgroup" }));

type Case = { name: string; attrs: QuantAttrs; rows: number };
const CASES: Case[] = [
  { name: "int8, rows of whole words", attrs: { bits: 8, groupSize: 64, cols: 64 }, rows: 70 },
  { name: "int8, 37 columns (rows not word-aligned)", attrs: { bits: 8, groupSize: 37, cols: 37 }, rows: 9 },
  { name: "4-bit, groups of 32", attrs: { bits: 4, groupSize: 32, cols: 96 }, rows: 13 },
  { name: "4-bit, groups of 64, last group padded", attrs: { bits: 4, groupSize: 64, cols: 100 }, rows: 66 },
  { name: "4-bit, groups of 4 (words straddle groups)", attrs: { bits: 4, groupSize: 4, cols: 6 }, rows: 5 },
];

function quantized(c: Case): { codes: Tensor; scale: Tensor } {
  const q = quantizeWeight(randn([c.rows, c.attrs.cols], -0.5, 0.5), c.attrs);
  return { codes: q.codes, scale: q.scale.to("float32") };
}

/** Graph of `fn` over x0, x1, ...; `expand` forces every composite's reference decomposition. */
function graphOf(fn: (xs: SymTensor[]) => SymTensor, inputs: readonly Tensor[], expand = false) {
  return trace((xs) => ({ y: fn(inputs.map((_, i) => xs[`x${i}`]!)) }), {
    inputs: Object.fromEntries(inputs.map((t, i) => [`x${i}`, { shape: t.shape, dtype: t.dtype }])),
    ...(expand ? { expand: () => true } : {}),
  });
}

async function fusedAndReference(session: Session, fn: (xs: SymTensor[]) => SymTensor, inputs: Tensor[]) {
  const [fused, reference] = [(await session.run(graphOf(fn, inputs), feedsOf(inputs))).y!, (await session.run(graphOf(fn, inputs, true), feedsOf(inputs))).y!];
  expect(fused.shape).toEqual(reference.shape);
  return { fused: fused.toFloat32(), reference: reference.toFloat32() };
}

describe("quantizedMatmul kernels against the reference decomposition", () => {
  for (const c of CASES) {
    const { codes, scale } = quantized(c);
    const product = ([x, k, s]: SymTensor[]) => ops.quantizedMatmul(x!, k!, s!, c.attrs);

    it(`${c.name}: prefill (tiled, 2 x 17 rows) bit for bit`, async () => {
      const { fused, reference } = await fusedAndReference(interp, product, [randn([2, 17, c.attrs.cols]), codes, scale]);
      expect(maxAbsDiff(fused, reference)).toBe(0);
    });

    for (const [form, session] of [["thread", interp], ["workgroup", workgroup]] as const) {
      it(`${c.name}: decode (matrix-vector, ${form} form, 1 and 3 rows) to float32 rounding`, async () => {
        for (const m of [1, 3]) {
          const x = randn([m, c.attrs.cols]);
          const { fused, reference } = await fusedAndReference(session, product, [x, codes, scale]);
          // The kernel scales partial sums instead of each weight: an error of a few float32 ulps of Σ|x w|.
          const w = (await cpu.run(graphOf(([k, s]) => ops.dequantize(k!, s!, c.attrs), [codes, scale]), feedsOf([codes, scale]))).y!.toFloat32();
          for (let i = 0; i < fused.length; i++) {
            const [r, n] = [Math.floor(i / c.rows), i % c.rows];
            let bound = 0;
            for (let j = 0; j < c.attrs.cols; j++) bound += Math.abs(x.data[r * c.attrs.cols + j]! * w[n * c.attrs.cols + j]!);
            expect(Math.abs(fused[i]! - reference[i]!), `row ${r}, output ${n}`).toBeLessThanOrEqual(1e-6 * bound);
          }
        }
      });
    }

    it(`${c.name}: dequantize bit for bit, and on backend-cpu`, async () => {
      const fn = ([k, s]: SymTensor[]) => ops.dequantize(k!, s!, c.attrs);
      const { fused, reference } = await fusedAndReference(interp, fn, [codes, scale]);
      expect(maxAbsDiff(fused, reference)).toBe(0);
      expect(maxAbsDiff(fused, (await cpu.run(graphOf(fn, [codes, scale]), feedsOf([codes, scale]))).y!.toFloat32())).toBe(0);
    });
  }
});

describe("int8/uint8 tensors are raw bytes on the device", () => {
  const codes = new Tensor(Int8Array.from({ length: 7 * 5 }, (_, i) => ((i * 37) % 255) - 127), [7, 5], "int8");
  const bytes = new Tensor(Uint8Array.from({ length: 6 * 3 }, (_, i) => (i * 53) % 256), [6, 3], "uint8");

  it("are held as bytes: the backend declares int8 and uint8, and uploads take a byte per element", () => {
    const backend = new InterpreterBackend();
    expect(backend.capabilities.dtypes).toEqual(expect.arrayContaining(["int8", "uint8"]));
    backend.upload(codes);
    expect(backend.memory().liveBytes).toBe(36); // 35 bytes in whole words
  });

  it("gather rows of bytes (an Embedding's codes), and download them exactly", async () => {
    const ids = Tensor.int32([5, 0, 3, 3], [4]);
    for (const t of [codes, bytes]) {
      const g = graphOf(([x, i]) => ops.gather(x!, i!, 0), [t, ids]);
      const got = (await interp.run(g, feedsOf([t, ids]))).y!;
      expect(got.dtype).toBe(t.dtype);
      expect(Array.from(got.data)).toEqual(Array.from((await cpu.run(g, feedsOf([t, ids]))).y!.data));
    }
  });

  it("a quantized Embedding: byte rows gathered, then dequantized", async () => {
    const attrs: QuantAttrs = { bits: 8, groupSize: 5, cols: 5 };
    const scale = randn([7, 1], 0.001, 0.01);
    const ids = Tensor.int32([2, 6, 2], [3]);
    const g = graphOf(([k, s, i]) => ops.dequantize(ops.gather(k!, i!, 0), ops.gather(s!, i!, 0), attrs), [codes, scale, ids]);
    expect(maxAbsDiff((await interp.run(g, feedsOf([codes, scale, ids]))).y!.toFloat32(), (await cpu.run(g, feedsOf([codes, scale, ids]))).y!.toFloat32())).toBe(0);
  });

  it("readers with no byte kernel get them widened (sign kept), and a byte output computed so is packed back", async () => {
    for (const t of [codes, bytes]) {
      const cast = graphOf(([x]) => x!.cast("float32").mul(2), [t]);
      expect(Array.from((await interp.run(cast, feedsOf([t]))).y!.toFloat32())).toEqual(Array.from(t.data, (v) => 2 * v));
      const sliced = graphOf(([x]) => x!.slice(1, 1, 3).transpose(), [t]);
      const [got, want] = [(await interp.run(sliced, feedsOf([t]))).y!, (await cpu.run(sliced, feedsOf([t]))).y!];
      expect(got.dtype).toBe(t.dtype);
      expect(Array.from(got.data)).toEqual(Array.from(want.data));
    }
  });

  it("an op that would compute int8 values is refused with one line naming it", async () => {
    const x = randn([4]);
    await expect(interp.run(graphOf(([v]) => v!.cast("int8"), [x]), feedsOf([x]))).rejects.toThrow(/node %\d+ \(cast\) produces int8, which has no kernel/);
  });
});

describe("a quantized model", () => {
  it("the official DenseRetNet fixture, quantized to int8 and 4 bits: logits and greedy tokens as on backend-cpu", { timeout: 120_000 }, async () => {
    const dir = fileURLToPath(new URL("../../../models/dense-gau-retnet-tiny/", import.meta.url));
    for (const options of [{ bits: 8 as const }, { bits: 4 as const, groupSize: 32 }]) {
      const lm = await CausalLM.fromPretrained(dir);
      lm.quantize(options);
      const ids = [[5, 17, 3, 60, 2, 41, 9, 12, 33, 7]];
      // backend-cpu rounds activations to 16-bit integers per block (about 1e-4 of an output).
      const [got, want] = [await lm.logits(interp, ids, "parallel"), await lm.logits(cpu, ids, "parallel")];
      expect(maxAbsDiff(got.toFloat32(), want.toFloat32()), `${options.bits} bits`).toBeLessThanOrEqual(1e-3);
      const greedy = async (session: Session) => {
        const decoder = await lm.startDecoding(session, [[5, 17, 3]]);
        const draw = { uniforms: new Float32Array(1) };
        const tokens = [3];
        for (let t = 0; t < 8; t++) tokens.push((await decoder.step([tokens.at(-1)!], draw))[0]!);
        decoder.dispose();
        return tokens;
      };
      expect(await greedy(interp), `${options.bits} bits`).toEqual(await greedy(cpu));
    }
  });
});
