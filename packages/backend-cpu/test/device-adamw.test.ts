// core's AdamW as a graph (DeviceAdamW: accumulation over micro-batches, global-norm clipping,
// bias-corrected moments, decoupled weight decay) run on this backend gives what core's host
// optimizer gives (GradientAccumulator, clipGradNorm, AdamW) to 1e-6, and resumes exactly.
import { AdamW, clipGradNorm, DeviceAdamW, GradientAccumulator, Parameter, Rng, Session, Tensor } from "@densessm/core";
import { describe, expect, it } from "vitest";
import { CpuBackend } from "../src/index.js";

const SHAPES: Record<string, number[]> = { "layer.weight": [6, 5], "norm.weight": [5], "conv.weight": [2, 3, 4] };

function randomTensor(rng: Rng, shape: number[], scale: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return Tensor.float32(Array.from({ length: n }, () => scale * (2 * rng.uniform() - 1)), shape);
}

function parameters(seed: number): [string, Parameter][] {
  const rng = new Rng(seed);
  return Object.entries(SHAPES).map(([name, shape]) => [name, new Parameter(randomTensor(rng, shape, 1))]);
}

/** Gradients of step `s`, micro-batch `k` (the same on both sides). */
function gradients(s: number, k: number, scale: number): Map<string, Tensor> {
  const rng = new Rng(1000 + 10 * s + k);
  return new Map(Object.entries(SHAPES).map(([name, shape]) => [name, randomTensor(rng, shape, scale)]));
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

const LRS = [3e-3, 2e-3, 1e-3];
const OPTIONS = { lr: 3e-3, weightDecay: 0.1, betas: [0.9, 0.95] as const, eps: 1e-8 };

describe.each([
  ["clipping active", 1, 0.8],
  ["no clipping", 0, 0.05],
])("DeviceAdamW on cpu vs core's host AdamW (%s)", (_label, clip, gradScale) => {
  it("three steps of two micro-batches give the same parameters, moments and gradient norms to 1e-6", async () => {
    const host = parameters(7);
    const device = parameters(7);
    const hostOpt = new AdamW(host, OPTIONS);
    const session = new Session(new CpuBackend());
    session.setParameters(device);
    const deviceOpt = new DeviceAdamW(session, device, { ...OPTIONS, clip });
    for (let s = 0; s < 3; s++) {
      const acc = new GradientAccumulator();
      for (let k = 0; k < 2; k++) {
        acc.add(gradients(s, k, gradScale));
        await deviceOpt.accumulate(new Map([...gradients(s, k, gradScale)].map(([n, g]) => [n, session.backend.upload(g)])));
      }
      const grads = acc.mean(new Map(Object.entries(SHAPES)));
      const norm = clip > 0 ? clipGradNorm(grads, clip) : Math.sqrt([...grads.values()].reduce((sq, g) => sq + g.toFloat32().reduce((a, v) => a + v * v, 0), 0));
      hostOpt.step(grads, LRS[s]);
      await deviceOpt.step(LRS[s]);
      expect(Math.abs((await deviceOpt.lastGradNorm())! - norm) / norm).toBeLessThanOrEqual(1e-6);
    }
    if (clip > 0) expect((await deviceOpt.lastGradNorm())!).toBeGreaterThan(clip); // the clip really acted

    await deviceOpt.syncParameters();
    const hostState = hostOpt.stateDict();
    const deviceState = await deviceOpt.stateDict();
    expect(deviceState.step).toBe(3);
    for (const [i, [name, p]] of host.entries()) {
      expect(maxDiff(device[i]![1].value.toFloat32(), p.value.toFloat32()), name).toBeLessThanOrEqual(1e-6);
      expect(maxDiff(deviceState.moments.get(name)!.m.toFloat32(), hostState.moments.get(name)!.m.toFloat32()), `${name} m`).toBeLessThanOrEqual(1e-6);
      expect(maxDiff(deviceState.moments.get(name)!.v.toFloat32(), hostState.moments.get(name)!.v.toFloat32()), `${name} v`).toBeLessThanOrEqual(1e-6);
    }
    // The weight decay reached only the rank >= 2 parameters, as the host optimizer's default says.
    expect(device[0]![1].version).toBeGreaterThan(0);
  });
});

describe("DeviceAdamW state", () => {
  it("a run restored from stateDict and synced parameters continues bit-identically", async () => {
    const run = async (stopAfter: number | undefined) => {
      let params = parameters(3);
      let session = new Session(new CpuBackend());
      session.setParameters(params);
      let opt = new DeviceAdamW(session, params, { ...OPTIONS, clip: 1 });
      for (let s = 0; s < 3; s++) {
        if (s === stopAfter) {
          // Save (parameters and moments read back), then start over from the saved copies.
          await opt.syncParameters();
          const state = await opt.stateDict();
          const saved = params.map(([n, p]) => [n, new Parameter(p.value.clone())] as [string, Parameter]);
          params = saved;
          session = new Session(new CpuBackend());
          session.setParameters(params);
          opt = new DeviceAdamW(session, params, { ...OPTIONS, clip: 1 });
          opt.loadStateDict(state);
        }
        await opt.accumulate(new Map([...gradients(s, 0, 0.5)].map(([n, g]) => [n, session.backend.upload(g)])));
        await opt.step(LRS[s]);
      }
      await opt.syncParameters();
      return params.map(([, p]) => [...p.value.toFloat32()]);
    };
    expect(await run(2)).toEqual(await run(undefined));
  });

  it("refuses gradients of unknown parameters or shapes, and moments of unknown parameters", async () => {
    const params = parameters(1);
    const session = new Session(new CpuBackend());
    session.setParameters(params);
    const opt = new DeviceAdamW(session, params);
    await expect(opt.accumulate(new Map([["nope", session.backend.upload(Tensor.zeros([5]))]]))).rejects.toThrow(/unknown parameter "nope"/);
    await expect(opt.accumulate(new Map([["norm.weight", session.backend.upload(Tensor.zeros([4]))]]))).rejects.toThrow(/has shape \[4\], parameter has \[5\]/);
    await expect(opt.step()).rejects.toThrow(/before any gradients/);
    expect(() => opt.loadStateDict({ step: 1, moments: new Map([["zz", { m: Tensor.zeros([1]), v: Tensor.zeros([1]) }]]) })).toThrow(/unknown parameter "zz"/);
  });
});
