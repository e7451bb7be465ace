import { CpuBackend } from "@densessm/backend-cpu";
import { gradName, gradients, Module, parameterFiniteDifference, Rng, Session, Tensor, trace, type Graph } from "@densessm/core";
import { describe, expect, it } from "vitest";
import { DenseHiddenRing, fusionConformance, HiddenFusion, HiddenProjection, SelectiveTransition } from "../src/index.js";

function randomTensor(shape: number[], rng: Rng, scale = 1): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return Tensor.float32(Array.from({ length: n }, () => scale * rng.normal()), shape);
}

class Block extends Module {
  phi: SelectiveTransition;
  fuse: HiddenFusion;
  constructor(mode: "add" | "concat", projection: "identity" | "linear" | "mlp", rng: Rng) {
    super();
    this.phi = new SelectiveTransition({
      sourceDim: projection === "identity" ? 8 : 6,
      targetDim: 8,
      inputDim: 8,
      projection: projection === "mlp" ? { kind: "mlp", midRatio: 2 } : { kind: projection },
      gateMidRatio: 2,
      rng,
    });
    this.fuse = new HiddenFusion({ mode, dim: 8, numSelected: 2, rng });
  }
}

function build(block: Block, shape: number[], srcDim: number): Graph {
  return trace(
    ({ x, h1, h2 }) => {
      const gate = block.phi.gate(x!);
      const y = block.fuse.forward(x!, [block.phi.apply(gate, h1!), block.phi.apply(gate, h2!)]);
      return { y, loss: y.square().sum().add(y.sum()) };
    },
    { inputs: { x: { shape: [...shape, 8] }, h1: { shape: [...shape, srcDim] }, h2: { shape: [...shape, srcDim] } }, parameters: block.namedParameters() },
  );
}

describe("HiddenProjection", () => {
  it("sizes from reduction ratios like the official code", () => {
    const k = HiddenProjection.fromRatios(64, 32, 2);
    const v = HiddenProjection.fromRatios(64, 32, 0.5);
    expect(k.fc1.weight.shape).toEqual([2, 64]);
    expect(k.fc2.weight.shape).toEqual([32, 2]);
    expect(v.fc2.weight.shape).toEqual([128, 2]);
    expect(k.namedParameters().map(([n]) => n)).toEqual(["fc1.weight", "fc2.weight"]);
    expect(() => HiddenProjection.fromRatios(64, 0, 2)).toThrow(/ratios/);
  });
});

describe("SelectiveTransition + HiddenFusion", () => {
  it("keeps shapes for sequences and single tokens with the same parameters", async () => {
    const rng = new Rng(1);
    const block = new Block("add", "linear", rng);
    const session = new Session(new CpuBackend());
    session.setParameters(block.namedParameters());
    for (const shape of [[2, 5], [2]]) {
      const g = build(block, shape, 6);
      const out = await session.run(g, { x: randomTensor([...shape, 8], rng), h1: randomTensor([...shape, 6], rng), h2: randomTensor([...shape, 6], rng) });
      expect(out.y!.shape).toEqual([...shape, 8]);
    }
  });

  it("identity projection: φ(h) = SiLU(select(x)) ⊙ h", async () => {
    const rng = new Rng(2);
    const block = new Block("add", "identity", rng);
    expect(block.phi.proj).toBeUndefined();
    const session = new Session(new CpuBackend());
    session.setParameters(block.namedParameters());
    const x = randomTensor([1, 3, 8], rng);
    const h1 = randomTensor([1, 3, 8], rng);
    const g = trace(({ x, h }) => ({ phi: block.phi.forward(x!, h!), gate: block.phi.gate(x!) }), {
      inputs: { x: { shape: [1, 3, 8] }, h: { shape: [1, 3, 8] } },
      parameters: block.namedParameters(),
    });
    const out = await session.run(g, { x, h: h1 });
    const phi = out.phi!.toFloat32();
    const gate = out.gate!.toFloat32();
    const h = h1.toFloat32();
    for (let i = 0; i < phi.length; i++) expect(phi[i]).toBeCloseTo(gate[i]! * h[i]!, 6);
  });

  it("gates at zero leave the current state unchanged", async () => {
    const rng = new Rng(3);
    const block = new Block("add", "mlp", rng);
    block.phi.select.fc2.weight.assign(Tensor.zeros(block.phi.select.fc2.weight.shape));
    const session = new Session(new CpuBackend());
    session.setParameters(block.namedParameters());
    const x = randomTensor([2, 4, 8], rng);
    const out = await session.run(build(block, [2, 4], 6), { x, h1: randomTensor([2, 4, 6], rng), h2: randomTensor([2, 4, 6], rng) });
    expect(Array.from(out.y!.toFloat32())).toEqual(Array.from(x.toFloat32()));
  });

  it("concat fusion zero-fills missing slots and rejects too many", () => {
    const fuse = new HiddenFusion({ mode: "concat", dim: 4, numSelected: 2 });
    expect(fuse.proj!.weight.shape).toEqual([4, 12]);
    const g = trace(({ x, a }) => ({ y: fuse.forward(x!, [a!]) }), { inputs: { x: { shape: [2, 4] }, a: { shape: [2, 4] } }, parameters: fuse.namedParameters() });
    expect(g.outputs).toHaveLength(1);
    expect(() => trace(({ x }) => ({ y: fuse.forward(x!, [x!, x!, x!]) }), { inputs: { x: { shape: [2, 4] } }, parameters: fuse.namedParameters() })).toThrow(/at most 2/);
    expect(() => new HiddenFusion({ mode: "mul" as "add", dim: 4 })).toThrow(/unknown mode/);
    expect(() => new SelectiveTransition({ sourceDim: 3, targetDim: 4, inputDim: 4 })).toThrow(/identity/);
  });

  for (const [mode, projection] of [["add", "mlp"], ["concat", "linear"]] as const) {
    it(`matches finite differences (${mode}, ${projection})`, async () => {
      const rng = new Rng(4);
      const block = new Block(mode, projection, rng);
      const session = new Session(new CpuBackend());
      session.setParameters(block.namedParameters());
      const g = build(block, [2, 3], 6);
      const gg = gradients(g, { loss: "loss" });
      const feeds = { x: randomTensor([2, 3, 8], rng), h1: randomTensor([2, 3, 6], rng), h2: randomTensor([2, 3, 6], rng) };
      const out = await session.run(gg, feeds);
      for (const [name, p] of block.namedParameters()) {
        const grad = out[gradName(name)]!.toFloat32();
        for (let trial = 0; trial < 3; trial++) {
          const i = rng.int(p.value.size);
          const fd = await parameterFiniteDifference(session, g, feeds, p, i, 1e-2);
          expect(Math.abs(fd - grad[i]!)).toBeLessThanOrEqual(1e-2 * Math.max(1, Math.abs(fd)));
        }
      }
    });
  }

  it("DenseHiddenRing keeps the last m, oldest first", () => {
    const ring = new DenseHiddenRing<number>(2);
    expect(ring.items()).toEqual([]);
    ring.push(1);
    ring.push(2);
    ring.push(3);
    expect(ring.items()).toEqual([2, 3]);
    expect(ring.size).toBe(2);
    const none = new DenseHiddenRing<number>(0);
    none.push(1);
    expect(none.items()).toEqual([]);
    expect(() => new DenseHiddenRing(-1)).toThrow(/depth/);
  });
});


describe("dense fusion op", () => {
  const session = new Session(new CpuBackend());
  for (const c of fusionConformance()) it(c.name, () => c.run(session));

  it("HiddenFusion.forwardGated is forward over the gated states, as one node in add mode", async () => {
    const rng = new Rng(5);
    const shape = [2, 3, 4];
    const feeds = { x: randomTensor(shape, rng), g: randomTensor(shape, rng), a: randomTensor(shape, rng), b: randomTensor(shape, rng) };
    const inputs = Object.fromEntries(Object.keys(feeds).map((k) => [k, { shape }]));
    const fuse = new HiddenFusion({ mode: "add", dim: 4 });
    const gated = trace(({ x, g, a, b }) => ({ y: fuse.forwardGated(x!, g!, [a!, b!]) }), { inputs });
    const plain = trace(({ x, g, a, b }) => ({ y: fuse.forward(x!, [g!.mul(a!), g!.mul(b!)]) }), { inputs });
    expect(gated.nodes.filter((n) => n.op === "fusion.denseFusion")).toHaveLength(1);
    const [want, got] = [(await session.run(plain, feeds)).y!, (await session.run(gated, feeds)).y!];
    expect(Array.from(got.toFloat32())).toEqual(Array.from(want.toFloat32()));
  });
});
