import { describe, expect, it } from "vitest";
import { bfloat16BitsToFloat32, float16BitsToFloat32, float32ToBFloat16Bits, float32ToFloat16Bits, Tensor, ShapeError, DTypeError } from "../src/index.js";

describe("float16", () => {
  it("round-trips every one of the 65536 bit patterns exactly (NaNs stay NaN)", () => {
    for (let bits = 0; bits < 65536; bits++) {
      const f = float16BitsToFloat32(bits);
      if (Number.isNaN(f)) expect(Number.isNaN(float16BitsToFloat32(float32ToFloat16Bits(f)))).toBe(true);
      else expect(float32ToFloat16Bits(f)).toBe(bits);
    }
  });

  it("rounds to nearest even, overflows to infinity and keeps subnormals", () => {
    expect(float16BitsToFloat32(float32ToFloat16Bits(0.1))).toBe(0.0999755859375);
    expect(float32ToFloat16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie: rounds to even (1.0)
    expect(float32ToFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie: rounds to even (upwards)
    expect(float32ToFloat16Bits(65520)).toBe(0x7c00);
    expect(float32ToFloat16Bits(2 ** -24)).toBe(1);
    expect(float32ToFloat16Bits(2 ** -26)).toBe(0);
    expect(float32ToFloat16Bits(-0)).toBe(0x8000);
  });
});

describe("bfloat16", () => {
  it("round-trips every bit pattern and rounds to nearest even", () => {
    for (let bits = 0; bits < 65536; bits++) {
      const f = bfloat16BitsToFloat32(bits);
      if (!Number.isNaN(f)) expect(float32ToBFloat16Bits(f)).toBe(bits);
    }
    expect(bfloat16BitsToFloat32(float32ToBFloat16Bits(1 + 2 ** -8))).toBe(1);
    expect(bfloat16BitsToFloat32(float32ToBFloat16Bits(1 + 3 * 2 ** -8))).toBe(1 + 2 ** -6);
  });
});

describe("Tensor", () => {
  it("converts between dtypes and reads back nested arrays", () => {
    const t = Tensor.fromArray([[1.5, -2], [3, 0.25]]);
    expect(t.shape).toEqual([2, 2]);
    expect(t.to("float16").to("float32").toArray()).toEqual([[1.5, -2], [3, 0.25]]);
    expect(t.to("bfloat16").get(1)).toBe(-2);
    expect(t.to("int32").toArray()).toEqual([[1, -2], [3, 0]]);
    expect(Tensor.scalar(3).item()).toBe(3);
  });

  it("names the problem on bad construction", () => {
    expect(() => new Tensor(new Float32Array(5), [2, 3], "float32")).toThrow(ShapeError);
    expect(() => new Tensor(new Float32Array(6), [2, 3], "int32")).toThrow(/Int32Array/);
    expect(() => new Tensor(new Float32Array(6), [2, 3], "int32")).toThrow(DTypeError);
    expect(() => Tensor.fromArray([1, 2, 3], [2, 2])).toThrow(/do not fill shape \[2, 2\]/);
    expect(() => Tensor.zeros([2, -1])).toThrow(/non-negative integers/);
  });
});
