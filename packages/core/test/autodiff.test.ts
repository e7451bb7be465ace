import { describe, expect, it } from "vitest";
import { defineOp, gradients, gradName, ops, printGraph, selectOutputs, trace, type CompositeOpDef, type Graph, type SymTensor, type TensorLike, type TypeInfo } from "../src/index.js";

// An op whose gradient rule counts its calls, so a test can see which nodes autodiff visited.
let ruleCalls = 0;
const COUNTED_EXP = defineOp({
  name: "test.countedExp",
  kind: "composite",
  doc: "exp, with a gradient rule that counts its calls",
  infer: (inputs: readonly TypeInfo[]) => inputs[0]!,
  decompose: ([x]) => x!.exp(),
  grad: ({ grad, output }) => {
    ruleCalls++;
    return [grad.mul(output)];
  },
} satisfies CompositeOpDef);
const countedExp = (x: SymTensor): SymTensor => x.builder.emit(COUNTED_EXP, [x]);

/** loss = sum(tanh(x · w)) [+ an expensive term of x alone]; aux = countedExp(w), which the loss never reads. */
function model(withBranch: boolean): Graph {
  return trace(
    ({ x }, builder) => {
      const w = builder.param("w", [3]);
      let loss = x!.mul(w).tanh().sum();
      if (withBranch) {
        let h: TensorLike = x!;
        for (let i = 0; i < 4; i++) h = countedExp(ops.silu(ops.matmul(h, x!.transpose()).matmul(x!)).mul(0.1));
        loss = loss.add((h as SymTensor).sum());
      }
      return { loss, aux: countedExp(w) };
    },
    { inputs: { x: { shape: [2, 3] } } },
  );
}

describe("autodiff", () => {
  it("differentiates only the nodes on a path from a requested parameter to the loss", () => {
    ruleCalls = 0;
    const grad = gradients(model(true), { loss: "loss", params: ["w"] });
    expect(ruleCalls).toBe(0); // neither the branch of x alone nor aux, which the loss does not read
    // A composite off the path is not expanded for autodiff: it stays one node for a fused kernel.
    expect(grad.nodes.filter((n) => n.op === "silu")).toHaveLength(4);
    expect(grad.nodes.filter((n) => n.op === "tanh")).toHaveLength(1);
    // The gradient is the very graph computed without the branch.
    const plain = gradients(model(false), { loss: "loss", params: ["w"] });
    expect(printGraph(selectOutputs(grad, [gradName("w")]))).toBe(printGraph(selectOutputs(plain, [gradName("w")])));
  });

  it("still differentiates the branch when its input is requested", () => {
    ruleCalls = 0;
    const grad = gradients(model(true), { loss: "loss", params: ["w"], inputs: ["x"] });
    expect(ruleCalls).toBe(4);
    expect(grad.nodes.some((n) => n.op === "silu")).toBe(false); // expanded: silu has no rule of its own
    expect(grad.outputs.map((o) => o.name)).toEqual(["loss", "aux", gradName("w"), gradName("x")]);
  });
});
