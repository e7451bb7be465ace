import { gradients, ops, Session, Tensor, trace, gradName } from "@densessm/core";
import { describe, expect, it } from "vitest";
import { CpuBackend } from "../src/index.js";

describe("smoke", () => {
  it("runs a graph and its gradient", async () => {
    const g = trace(({ x, w }) => ({ loss: ops.sum(ops.matmul(x!, w!).silu().square()) }), {
      inputs: { x: { shape: [2, 3] }, w: { shape: [3, 4] } },
    });
    const gg = gradients(g, { loss: "loss", inputs: ["w"] });
    const s = new Session(new CpuBackend());
    const x = Tensor.fromArray([[1, 2, 3], [4, 5, 6]]);
    const w = Tensor.fromArray([[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8], [-0.1, -0.2, -0.3, -0.4]]);
    const out = await s.run(gg, { x, w });
    expect(out.loss!.item()).toBeGreaterThan(0);
    expect(out[gradName("w")]!.shape).toEqual([3, 4]);
  });
});
