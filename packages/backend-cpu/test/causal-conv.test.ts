import { lower, ops, Rng, Session, Tensor, trace } from "@densessm/core";
import { describe, expect, it } from "vitest";
import { CpuBackend } from "../src/index.js";

const session = new Session(new CpuBackend());
const rng = new Rng(5);
const uniform = (shape: number[]) => Tensor.float32(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => 2 * rng.uniform() - 1), shape);

describe("causalConv1d's fused kernel", () => {
  it.each([
    ["from the start of a sequence", false, [3, 9, 10]],
    ["with history: a decoding step", true, [8, 4, 10]],
    ["with history: a chunk", true, [2, 11, 10]],
  ] as const)("gives the decomposition's bits %s", async (_, history, xShape) => {
    const feeds = { x: uniform([...xShape]), w: uniform([10, 4]), bias: uniform([10]) };
    const g = trace(({ x, w, bias }) => ({ y: ops.causalConv1d(x!, w!, bias!, { history }) }), { inputs: { x: { shape: [...xShape] }, w: { shape: [10, 4] }, bias: { shape: [10] } } });
    const fused = (await session.run(g, feeds)).y!;
    const decomposed = (await session.run(lower(g, (op) => op !== "causalConv1d"), feeds)).y!;
    expect(fused.shape).toEqual([xShape[0], history ? xShape[1] - 3 : xShape[1], 10]);
    expect(Array.from(fused.data)).toEqual(Array.from(decomposed.data));
  });

  it("with history, refuses an input shorter than the kernel", () => {
    expect(() => trace(({ x, w }) => ({ y: ops.causalConv1d(x!, w!, undefined, { history: true }) }), { inputs: { x: { shape: [1, 3, 10] }, w: { shape: [10, 4] } } })).toThrow(
      /causalConv1d: with history, the input must hold the 3 preceding positions and at least one more, got length 3/,
    );
  });
});
