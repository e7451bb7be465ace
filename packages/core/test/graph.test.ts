import { describe, expect, it } from "vitest";
import { deserializeGraph, DenseSSMError, FormatError, gradients, lower, ops, printGraph, serializeGraph, ShapeError, Tensor, trace, planBuffers } from "../src/index.js";

const model = () =>
  trace(({ x }) => ({ y: ops.softmax(x!.matmul(x!.transpose()).add(ops.sum(x!, -1, true)), -1).mul(2) }), { inputs: { x: { shape: [3, 4] } } });

describe("graph IR", () => {
  it("infers shapes at trace time and prints one node a line", () => {
    const g = model();
    const text = printGraph(g);
    expect(text).toContain("= matmul(");
    expect(text).toContain("softmax");
    expect(text.split("\n").at(-1)).toMatch(/^return y=%\d+$/);
    expect(g.nodes[g.outputs[0]!.id]!.shape).toEqual([3, 3]);
  });

  it("serializes and deserializes to the same graph, constants included", () => {
    const g = trace(({ x }) => ({ y: x!.mul(x!.builder.constant(Tensor.fromArray([1, 2, 3, 4]))) }), { inputs: { x: { shape: [3, 4] } } });
    const back = deserializeGraph(serializeGraph(g));
    expect(printGraph(back)).toBe(printGraph(g));
  });

  it("rejects corrupt serialized graphs with a reason", () => {
    expect(() => deserializeGraph("{")).toThrow(FormatError);
    expect(() => deserializeGraph(JSON.stringify({ format: "other" }))).toThrow(/not a densessm-graph/);
    const g = JSON.parse(serializeGraph(model())) as { nodes: { op: string; inputs: number[] }[] };
    g.nodes[2]!.inputs = [5];
    expect(() => deserializeGraph(JSON.stringify(g))).toThrow(/node %2 .* does not precede it/);
    const h = JSON.parse(serializeGraph(model())) as { nodes: { op: string }[] };
    h.nodes[1]!.op = "frobnicate";
    expect(() => deserializeGraph(JSON.stringify(h))).toThrow(/unknown op "frobnicate"/);
  });

  it("lowers composites a backend lacks into primitives only", () => {
    const lowered = lower(model(), (op) => op !== "softmax");
    expect(lowered.nodes.some((n) => n.op === "softmax")).toBe(false);
    expect(lowered.nodes.some((n) => n.op === "exp")).toBe(true);
    expect(lower(model(), () => true).nodes.some((n) => n.op === "softmax")).toBe(true);
  });

  it("plans buffer reuse: intermediates are released after their last reader, outputs never", () => {
    const g = model();
    const plan = planBuffers(g);
    const released = plan.releaseAfter.flat();
    expect(released).not.toContain(g.outputs[0]!.id);
    expect(released).not.toContain(g.inputs[0]!.id);
    expect(released.length).toBeGreaterThan(2);
  });

  it("names the op and shapes on bad model code", () => {
    expect(() => trace(({ x }) => ({ y: x!.reshape([5, 5]) }), { inputs: { x: { shape: [3, 4] } } })).toThrow(/reshape: cannot reshape \[3, 4\]/);
    expect(() => trace(({ x }) => ({ y: x!.add(x!.reshape([4, 3])) }), { inputs: { x: { shape: [3, 4] } } })).toThrow(ShapeError);
    expect(() => trace(({ x }) => ({ y: x!.sum(3) }), { inputs: { x: { shape: [3, 4] } } })).toThrow(/sum: axis 3 is out of range/);
    expect(() => trace(() => ({}), {})).toThrow(/at least one output/);
  });

  it("names the problem when sample gets bad shapes or settings", () => {
    const draw = (shapes: { l: number[]; u: number[] }, options = {}) => () => trace(({ l, u }) => ({ y: ops.sample(l!, u!, options) }), { inputs: { l: { shape: shapes.l }, u: { shape: shapes.u } } });
    expect(draw({ l: [2, 5, 7], u: [2] })).toThrow(/sample: logits must be \[batch, vocab\], got \[2, 5, 7\]/);
    expect(draw({ l: [2, 7], u: [3] })).toThrow(/sample: uniforms must be \[2\]/);
    expect(draw({ l: [2, 7], u: [2] }, { temperature: Number.NaN })).toThrow(/temperature must be a finite number >= 0/);
    expect(draw({ l: [2, 7], u: [2] }, { temperature: 1, topK: -1 })).toThrow(/topK must be a non-negative integer/);
    expect(draw({ l: [2, 7], u: [2] }, { temperature: 1, topP: 1.5 })).toThrow(/topP must be in \(0, 1\]/);
  });

  it("autodiff only accepts scalar losses and known names", () => {
    expect(() => gradients(model(), { loss: "y" })).toThrow(/must be a scalar/);
    expect(() => gradients(model(), { loss: "nope" })).toThrow(DenseSSMError);
    const g = trace(({ x }) => ({ loss: x!.sum() }), { inputs: { x: { shape: [2] } } });
    expect(() => gradients(g, { loss: "loss", inputs: ["z"] })).toThrow(/no input named "z"/);
  });
});
