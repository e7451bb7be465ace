import { describe, expect, it } from "vitest";
import {
  DTypeError,
  Embedding,
  FormatError,
  Linear,
  Module,
  ops,
  parseQuantizationConfig,
  parseSafetensors,
  prepareQuantized,
  quantizationConfigJSON,
  quantizeModule,
  quantizeWeight,
  dequantizeWeight,
  Rng,
  serializeSafetensors,
  ShapeError,
  Tensor,
  trace,
  widenStorage,
} from "../src/index.js";

const rng = new Rng(5);
const randomMatrix = (rows: number, cols: number, scale = 1) => Tensor.float32(Array.from({ length: rows * cols }, () => scale * (rng.uniform() * 2 - 1)), [rows, cols]);

describe("quantizeWeight", () => {
  it("int8: one float16 scale per row, codes in -127..127, each weight within half a step", () => {
    const w = randomMatrix(5, 33, 0.3);
    const q = { bits: 8, groupSize: 33 } as const;
    const { codes, scale } = quantizeWeight(w, q);
    expect([codes.dtype, codes.shape, scale.dtype, scale.shape]).toEqual(["int8", [5, 33], "float16", [5, 1]]);
    expect(Math.max(...Array.from(codes.data, Math.abs))).toBe(127); // every row's extreme uses the full range
    const back = dequantizeWeight({ codes, scale }, q, 33).toFloat32();
    const s = scale.toFloat32();
    w.toFloat32().forEach((v, i) => expect(Math.abs(v - back[i]!)).toBeLessThanOrEqual(Math.abs(s[Math.floor(i / 33)]!) / 2 + 1e-7));
  });

  it("4-bit: onnxruntime MatMulNBits bytes (even column in the low nibble, zero point 8), last group zero-padded", () => {
    // Row 0: group [-8, -4, 0, 4] has scale 1 exactly; group [-4, 1, pad, pad] has scale 0.5.
    const w = Tensor.float32([-8, -4, 0, 4, -4, 1], [1, 6]);
    const q = { bits: 4, groupSize: 4 } as const;
    const { codes, scale } = quantizeWeight(w, q);
    expect([codes.dtype, codes.shape, scale.shape]).toEqual(["uint8", [1, 4], [1, 2]]);
    expect(Array.from(codes.data)).toEqual([0x40, 0xc8, 0xa0, 0x88]); // codes [0, 4, 8, 12], [0, 10, 8, 8]
    expect(Array.from(scale.toFloat32())).toEqual([1, 0.5]);
    expect(Array.from(dequantizeWeight({ codes, scale }, q, 6).toFloat32())).toEqual([-8, -4, 0, 4, -4, 1]);
  });

  it("4-bit: the scale search never does worse than Q4_0's max / -8", () => {
    const w = randomMatrix(16, 64);
    const q = { bits: 4, groupSize: 32 } as const;
    const back = dequantizeWeight(quantizeWeight(w, q), q, 64).toFloat32();
    const values = w.toFloat32();
    let searched = 0;
    let q40 = 0;
    for (let g = 0; g < 32; g++) {
      const group = values.subarray(g * 32, g * 32 + 32);
      const m = group.reduce((a, v) => (Math.abs(v) > Math.abs(a) ? v : a), 0);
      const d = m / -8;
      group.forEach((v, k) => {
        const code = Math.min(15, Math.max(0, Math.round(v / d) + 8));
        q40 += (v - (code - 8) * d) ** 2;
        searched += (v - back[g * 32 + k]!) ** 2;
      });
    }
    expect(searched).toBeLessThan(q40);
  });

  it("zero rows quantize to zero; non-finite weights are a named error", () => {
    const { codes, scale } = quantizeWeight(Tensor.zeros([2, 4]), { bits: 8, groupSize: 4 });
    expect(Array.from(codes.data).every((c) => c === 0) && Array.from(scale.toFloat32()).every((s) => s === 0)).toBe(true);
    expect(() => quantizeWeight(Tensor.float32([1, Infinity], [1, 2]), { bits: 8, groupSize: 2 })).toThrow(/row 0 holds a non-finite value/);
    expect(() => quantizeWeight(Tensor.float32([1, 2, 3], [3]), { bits: 8, groupSize: 3 })).toThrow(ShapeError);
    expect(() => quantizeWeight(Tensor.zeros([2, 6]), { bits: 4, groupSize: 3 })).toThrow(/groupSize must be even/);
  });
});

describe("quantized ops", () => {
  it("check codes dtype and shapes at trace time, naming the op", () => {
    const attrs = { bits: 4, groupSize: 32, cols: 64 } as const;
    const traceWith = (codes: { shape: number[]; dtype: "uint8" | "int8" }, scale: number[]) =>
      trace(({ x, c, s }) => ({ y: ops.quantizedMatmul(x!, c!, s!, attrs) }), { inputs: { x: { shape: [1, 64] }, c: codes, s: { shape: scale } } });
    expect(() => traceWith({ shape: [3, 32], dtype: "uint8" }, [3, 2])).not.toThrow();
    expect(() => traceWith({ shape: [3, 32], dtype: "int8" }, [3, 2])).toThrow(DTypeError);
    expect(() => traceWith({ shape: [3, 31], dtype: "uint8" }, [3, 2])).toThrow(/quantizedMatmul: 4-bit codes \[3, 31\] and scale \[3, 2\] do not hold 64 columns in groups of 32/);
    expect(() => traceWith({ shape: [3, 32], dtype: "uint8" }, [3, 1])).toThrow(ShapeError);
  });
});

class Toy extends Module {
  embed = new Embedding(10, 40, { rng });
  proj = new Linear(40, 6, { rng });
  narrow = new Linear(8, 4, { bias: false, rng });
  head = new Linear(40, 10, { bias: false, rng });
  constructor() {
    super();
    this.head.weight = this.embed.weight; // tied, like tie_word_embeddings
  }
}

describe("quantizeModule", () => {
  it("quantizes every Linear and Embedding, keeps ties, biases and the parameter count; 4-bit rows shorter than a group stay float", () => {
    const toy = new Toy();
    const count = toy.numParameters();
    const config = quantizeModule(toy, { bits: 4, groupSize: 32, keep: (name) => name === "proj" });
    expect(config).toEqual({ bits: 4, groupSize: 32, keep: ["proj", "narrow"] });
    expect(toy.head.weight).toBe(toy.embed.weight);
    expect(toy.head.weight_scale).toBe(toy.embed.weight_scale);
    expect(toy.proj.quantization).toBeUndefined();
    expect(toy.numParameters()).toBe(count);
    expect([...toy.stateDict()].map(([n, t]) => `${n} ${t.dtype}${JSON.stringify(t.shape)}`)).toEqual([
      "embed.weight uint8[10,32]", // 40 columns: groups of 32, the second padded
      "embed.weight_scale float16[10,2]",
      "proj.weight float32[6,40]",
      "proj.bias float32[6]",
      "narrow.weight float32[4,8]",
      "head.weight uint8[10,32]",
      "head.weight_scale float16[10,2]",
    ]);
    expect(() => quantizeModule(toy, { bits: 8 })).toThrow(/already quantized/);
  });

  it("a quantized state dict loads into a model prepared from its config; bad files are named errors", () => {
    const toy = new Toy();
    const config = quantizeModule(toy, { bits: 8 });
    const file = parseSafetensors(serializeSafetensors(toy.stateDict())).tensors;
    const fresh = new Toy();
    prepareQuantized(fresh, parseQuantizationConfig(quantizationConfigJSON(config)));
    fresh.loadStateDict(file);
    for (const [name, t] of toy.stateDict()) expect(fresh.stateDict().get(name)!.data).toEqual(t.data);

    const floats = new Toy();
    prepareQuantized(floats, config);
    const floatFile = new Toy().stateDict();
    expect(() => floats.loadStateDict(floatFile)).toThrow(/tensor "proj.weight" is float32; expected int8/);
    expect(() => floats.loadStateDict(floatFile)).toThrow(/missing tensor "embed.weight_scale"/);
    expect(() => prepareQuantized(new Toy(), { ...config, keep: ["nope"] })).toThrow(/modules_to_not_convert names "nope", which this model has no Linear or Embedding for/);
  });
});

describe("quantization_config", () => {
  it("round-trips and names every bad key", () => {
    expect(parseQuantizationConfig(quantizationConfigJSON({ bits: 4, groupSize: 128, keep: ["lm_head"] }))).toEqual({ bits: 4, groupSize: 128, keep: ["lm_head"] });
    expect(quantizationConfigJSON({ bits: 8, keep: [] })).toMatchObject({ quant_method: "densessm", bits: 8, group_size: null, scale_dtype: "float16" });
    const bad = (json: unknown) => () => parseQuantizationConfig(json, "m/config.json");
    expect(bad("int8")).toThrow(FormatError);
    expect(bad({ quant_method: "gptq", bits: 4 })).toThrow(/m\/config.json: quantization_config.quant_method is "gptq"/);
    expect(bad({ quant_method: "densessm", bits: 3 })).toThrow(/bits must be 8 or 4, got 3/);
    expect(bad({ quant_method: "densessm", bits: 4, group_size: 48 })).toThrow(/group_size must be one of 32, 64, 128/);
    expect(bad({ quant_method: "densessm", bits: 8, group_size: 64 })).toThrow(/group_size must be null for 8 bits/);
    expect(bad({ quant_method: "densessm", bits: 8, symmetric: false })).toThrow(/symmetric must be true/);
    expect(bad({ quant_method: "densessm", bits: 8, modules_to_not_convert: "lm_head" })).toThrow(/modules_to_not_convert must be an array/);
  });
});

describe("storage dtypes", () => {
  it("int8/uint8 round-trip through safetensors (I8/U8)", () => {
    const a = new Tensor(Int8Array.from([-128, -1, 0, 127]), [2, 2], "int8");
    const b = new Tensor(Uint8Array.from([0, 255, 17]), [3], "uint8");
    const back = parseSafetensors(serializeSafetensors([["a", a], ["b", b]])).tensors;
    expect([back.get("a")!.dtype, Array.from(back.get("a")!.data)]).toEqual(["int8", [-128, -1, 0, 127]]);
    expect([back.get("b")!.dtype, Array.from(back.get("b")!.data)]).toEqual(["uint8", [0, 255, 17]]);
  });

  it("widenStorage carries int8 inputs and the ops that move them in int32, and leaves a rounding cast alone", () => {
    const g = trace(({ c, i }) => ({ y: ops.gather(c!, i!, 0).reshape([4]).cast("float32"), h: c!.cast("float32").cast("float16") }), {
      inputs: { c: { shape: [3, 2], dtype: "int8" }, i: { shape: [2], dtype: "int32" } },
    });
    const widened = widenStorage(g, ["float32", "int32"]);
    expect(widened.nodes.map((n) => `${n.op}:${n.dtype}`)).toEqual(g.nodes.map((n) => `${n.op}:${n.dtype === "int8" ? "int32" : n.dtype}`));
    expect(widened.nodes.some((n) => n.dtype === "float16")).toBe(true);
    expect(widenStorage(g, ["float32", "int32", "int8", "float16"])).toBe(g);
  });
});
