import { describe, expect, it } from "vitest";
import { AdamW, GradientAccumulator, Parameter, Tensor, argmax, clipGradNorm, learningRateSchedule } from "../src/index.js";

describe("AdamW", () => {
  it("matches the torch.optim.AdamW update, computed by hand", () => {
    const p = new Parameter(Tensor.fromArray([[1, -2]]));
    const opt = new AdamW([["w", p]], { lr: 0.1, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.5 });
    const g = Tensor.fromArray([[0.5, 0.25]]);
    opt.step(new Map([["w", g]]));
    // Step 1: m_hat = g, v_hat = g^2, so the Adam step is lr * sign(g); decay multiplies by (1 - lr * wd).
    const w = p.value.toFloat32();
    expect(w[0]).toBeCloseTo(1 * (1 - 0.05) - 0.1, 6);
    expect(w[1]).toBeCloseTo(-2 * (1 - 0.05) - 0.1, 6);
    expect(p.version).toBe(1);
    opt.step(new Map([["w", g]]));
    const m = 0.9 * 0.05 + 0.1 * 0.5;
    const v = 0.999 * 0.00025 + 0.001 * 0.25;
    const expected = (1 * 0.95 - 0.1) * 0.95 - (0.1 * (m / (1 - 0.81))) / (Math.sqrt(v / (1 - 0.999 ** 2)) + 1e-8);
    expect(p.value.toFloat32()[0]).toBeCloseTo(expected, 5);
  });

  it("saves and restores its moments so a resumed run continues identically", () => {
    const mk = () => new Parameter(Tensor.fromArray([[0.3, 0.7]]));
    const [a, b] = [mk(), mk()];
    const oa = new AdamW([["w", a]], { lr: 0.01 });
    const g = new Map([["w", Tensor.fromArray([[1, -1]])]]);
    oa.step(g);
    const ob = new AdamW([["w", b]], { lr: 0.01 });
    b.assign(a.value.clone());
    ob.loadStateDict(oa.stateDict());
    oa.step(g);
    ob.step(g);
    expect(b.value.toArray()).toEqual(a.value.toArray());
    expect(() => ob.loadStateDict({ step: 1, moments: new Map([["zz", { m: Tensor.zeros([1]), v: Tensor.zeros([1]) }]]) })).toThrow(/unknown parameter "zz"/);
  });
});

describe("schedules, clipping, accumulation", () => {
  it("warms up linearly then decays", () => {
    const cos = learningRateSchedule({ peakLr: 1, warmupSteps: 10, totalSteps: 110, decay: "cosine", minLr: 0.1 });
    expect(cos(0)).toBeCloseTo(0.1);
    expect(cos(9)).toBeCloseTo(1);
    expect(cos(60)).toBeCloseTo(0.55);
    expect(cos(110)).toBeCloseTo(0.1);
    const lin = learningRateSchedule({ peakLr: 2, totalSteps: 100, decay: "linear" });
    expect(lin(50)).toBeCloseTo(1);
    const poly = learningRateSchedule({ peakLr: 1, totalSteps: 100, decay: "polynomial", power: 2 });
    expect(poly(50)).toBeCloseTo(0.25);
    expect(() => learningRateSchedule({ peakLr: 1, warmupSteps: 5, totalSteps: 2 })).toThrow(/warmupSteps/);
  });

  it("clips the global norm and averages micro-batches", () => {
    const grads = new Map([["a", Tensor.fromArray([3, 0])], ["b", Tensor.fromArray([4])]]);
    expect(clipGradNorm(grads, 1)).toBeCloseTo(5);
    expect(grads.get("a")!.toFloat32()[0]).toBeCloseTo(0.6, 5);
    const acc = new GradientAccumulator();
    acc.add(new Map([["a", Tensor.fromArray([1, 2])]]));
    acc.add(new Map([["a", Tensor.fromArray([3, 4])]]));
    expect(acc.mean(new Map([["a", [2]]])).get("a")!.toArray()).toEqual([2, 3]);
  });
});

describe("argmax", () => {
  it("takes the first of tied maxima", () => {
    expect(argmax([0.1, 3, 2.9, -1, 0.5])).toBe(1);
    expect(argmax([2, 5, 5, 1])).toBe(1);
  });
});
