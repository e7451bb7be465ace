// The worked example of docs/adding-a-backend.md, kept honest by running it: a third-party
// backend that implements only the 29 primitives (borrowing this package's primitive kernels so
// the example stays short) registers itself like any backend, and passes the whole conformance
// suite (leaving out the float16/bfloat16 cases, dtypes it does not declare), because every
// composite op reaches it as its reference decomposition.
import {
  getBackend,
  PRIMITIVE_NAMES,
  registerBackend,
  Session,
  Tensor,
  conformanceSuite,
  trace,
  unregisterBackend,
  type Backend,
  type DeviceTensor,
  type Executable,
  type Graph,
} from "@densessm/core";
import { afterAll, describe, expect, it } from "vitest";
import { KERNELS } from "../src/index.js";

class PrimitivesOnlyBackend implements Backend {
  readonly name = "primitives-only";
  readonly capabilities = { ops: PRIMITIVE_NAMES, dtypes: ["float32", "int32"] as const };
  compiledOps = new Set<string>();

  async compile(graph: Graph): Promise<Executable> {
    for (const n of graph.nodes) this.compiledOps.add(n.op);
    const kernels = graph.nodes.map((n) => (n.op in KERNELS && PRIMITIVE_NAMES.has(n.op) ? KERNELS[n.op]!(n, n.inputs.map((i) => graph.nodes[i]!)) : undefined));
    const alloc = (dtype: Tensor["dtype"], length: number) => Tensor.zeros([length], dtype).data;
    return {
      async run(feeds) {
        const values: Tensor[] = [];
        for (const n of graph.nodes) {
          if (n.op === "const") values[n.id] = n.attrs.value as Tensor;
          else if (n.op === "input" || n.op === "param") values[n.id] = feeds.get(n.attrs.name as string) as Tensor;
          else values[n.id] = kernels[n.id]!(n.inputs.map((i) => values[i]!), alloc);
        }
        return new Map(graph.outputs.map((o) => [o.name, values[o.id]!.clone() as DeviceTensor]));
      },
      dispose() {},
    };
  }
  upload(t: Tensor): DeviceTensor {
    return t;
  }
  async download(t: DeviceTensor): Promise<Tensor> {
    return t as Tensor;
  }
  release(): void {}
  memory() {
    return { liveBytes: 0, peakBytes: 0 };
  }
}

const instance = new PrimitivesOnlyBackend();
registerBackend({ name: "primitives-only", priority: -1, create: () => instance });
afterAll(() => unregisterBackend("primitives-only"));

describe("a third-party backend that only implements primitives", () => {
  it("is found by name through the registry", async () => {
    expect(await getBackend("primitives-only")).toBe(instance);
  });

  describe("passes the conformance suite for the dtypes it holds", async () => {
    const session = await Session.create("primitives-only");
    for (const c of conformanceSuite(instance.capabilities)) it(c.name, () => c.run(session));
  });

  it("is never handed a dtype it does not hold: a float16 graph is refused with the reason", async () => {
    const session = await Session.create("primitives-only");
    const half = trace(({ x }) => ({ y: x!.cast("float16").cast("float32") }), { inputs: { x: { shape: [2] } } });
    await expect(session.run(half, { x: Tensor.float32([1, 2]) })).rejects.toThrow(/backend "primitives-only" cannot hold dtype float16/);
    const kept = new Set(conformanceSuite(instance.capabilities).map((c) => c.name));
    expect(conformanceSuite().filter((c) => !kept.has(c.name)).map((c) => c.name)).toEqual(["op/cast float16 round trip", "op/cast bfloat16 round trip"]);
  });

  it("never saw a composite op: they were all lowered to primitives", () => {
    expect([...instance.compiledOps].filter((op) => !PRIMITIVE_NAMES.has(op) && !["input", "param", "const"].includes(op))).toEqual([]);
    expect(instance.compiledOps.has("exp")).toBe(true);
  });
});
