import { describe, expect, it } from "vitest";
import { deserializeGraph, DenseSSMError, FormatError, GraphBuilder, gradients, lower, ops, printGraph, serializeGraph, ShapeError, Tensor, trace, planBuffers, type Graph } from "../src/index.js";

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

  it("holds each distinct constant once: the same dtype, shape and bytes give the same node", () => {
    const b = new GraphBuilder();
    const table = () => Tensor.float32([1, 2, 3, 4, 5, 6], [2, 3]); // a fresh tensor per call, as per-layer code makes it
    const first = b.constant(table());
    for (let layer = 0; layer < 5; layer++) expect(b.constant(table()).id).toBe(first.id);
    expect(b.scalar(2).id).toBe(b.scalar(2).id);
    expect(b.nodes.length).toBe(2);
    const distinct = [
      Tensor.float32([1, 2, 3, 4, 5, 6], [3, 2]), // same bytes, another shape
      Tensor.int32([1, 2, 3, 4, 5, 6], [2, 3]), // same values, another dtype
      Tensor.float32([1, 2, 3, 4, 5, 7], [2, 3]), // one element differs
      Tensor.float32([1, 2, 3, 4, 5, 6], [2, 3]).to("float16"),
      Tensor.scalar(-0),
      Tensor.scalar(0),
    ];
    for (const t of distinct) b.constant(t);
    expect(b.nodes.length).toBe(2 + distinct.length);
    expect(b.constant(Tensor.scalar(-0)).id).toBe(b.nodes.length - 2);
  });

  it("shares constants across layers in traced graphs and keeps them shared through lowering and autodiff", () => {
    const mask = () => Tensor.float32(Array.from({ length: 16 }, (_, i) => (i % 5 === 0 ? 1 : 0.5)), [4, 4]);
    const g = trace(
      ({ x }, b) => {
        let h = x!;
        for (let layer = 0; layer < 3; layer++) h = h.matmul(b.constant(mask())).tanh();
        return { loss: h.sum() };
      },
      { inputs: { x: { shape: [2, 4] } } },
    );
    const masks = (graph: Graph) => graph.nodes.filter((n) => n.op === "const" && n.shape.join() === "4,4").length;
    expect(masks(g)).toBe(1);
    expect(masks(lower(gradients(g, { loss: "loss", inputs: ["x"] }), () => false))).toBe(1);
  });

  it("lowers composites a backend lacks into primitives only", () => {
    const lowered = lower(model(), (op) => op !== "softmax");
    expect(lowered.nodes.some((n) => n.op === "softmax")).toBe(false);
    expect(lowered.nodes.some((n) => n.op === "exp")).toBe(true);
    expect(lower(model(), () => true).nodes.some((n) => n.op === "softmax")).toBe(true);
  });

  it("plans buffer reuse: intermediates are released after their last reader; inputs, constants and outputs never", () => {
    const g = model();
    expect(g.nodes.map((n) => n.op)).toEqual(["input", "permute", "matmul", "sum", "add", "softmax", "const", "mul"]);
    // %1 (xᵀ) is last read by the matmul (step 2), %2 and %3 by the add (4), %4 by softmax (5), %5 by
    // the mul (7). x (%0), the constant 2 (%6) and the output y (%7) are never released.
    expect(planBuffers(g).releaseAfter).toEqual([[], [], [1], [], [2, 3], [4], [], [5]]);
    // With the transpose as a view of x, it lives in x's storage, which is never released.
    const aliased = planBuffers(g, (n) => n.op === "permute");
    expect(aliased.storageOf).toEqual([0, 0, 2, 3, 4, 5, 6, 7]);
    expect(aliased.releaseAfter).toEqual([[], [], [], [], [2, 3], [4], [], [5]]);
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
