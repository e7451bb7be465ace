// Every GPU kernel in the interpreter (debug mode) against backend-cpu on the same graph, on small
// shapes that include sizes that are not multiples of the tile or workgroup, forward and through
// gradient graphs (every op's backward is more graph, so it runs these same kernels).
import { gradients, ops, Parameter, Session, Tensor, trace, type SymTensor } from "@densessm/core";
import { describe, expect, it } from "vitest";
import { InterpreterBackend } from "../src/index.js";
import { agree, cpu, feedsOf, graphOf, interp, interpreterBackend, maxAbsDiff, randn } from "./helpers.js";
import { modelKernelCases } from "./model-kernels.js";

// The helpers' backend picks the barrier-free matrix-vector form (software runtime); this one forces the other.
const workgroupMatvec = new Session(new InterpreterBackend({ matvec: "workgroup" }));
const unfused = new Session(new InterpreterBackend({ fuse: false }));

describe("matmul paths", () => {
  it("tiled, ragged edges, broadcast batch", () => agree(([a, b]) => a!.matmul(b!), [randn([2, 1, 37, 45]), randn([3, 45, 70])]));
  it("tiled with B transposed in place (x @ W^T)", () => agree(([a, b]) => a!.matmul(b!.transpose()), [randn([2, 33, 40]), randn([50, 40])]));
  it("matrix-vector, B transposed, batch of 8 single rows folded into one product", () =>
    agree(([a, b]) => a!.matmul(b!.transpose()), [randn([8, 1, 96]), randn([130, 96])]));
  it("matrix-vector, B transposed, in the workgroup reduction form", async () => {
    await agree(([a, b]) => a!.matmul(b!.transpose()), [randn([3, 2, 96]), randn([70, 96])], 1e-5, workgroupMatvec);
    await agree(([a, b]) => a!.matmul(b!.transpose()), [randn([8, 1, 33]), randn([5, 33])], 1e-5, workgroupMatvec);
  });
  it("matrix-vector with B in [K, N] layout", () => agree(([a, b]) => a!.matmul(b!), [randn([3, 2, 20]), randn([3, 20, 70])]));
  it("one output column, one invocation per row: batched (Mamba's read-out), shared, transposed", async () => {
    await agree(([h, c]) => h!.matmul(c!), [randn([2, 3, 70, 16]), randn([2, 3, 16, 1])]);
    await agree(([a, w]) => a!.matmul(w!), [randn([4, 9, 33]), randn([33, 1])]);
    await agree(([a, w]) => a!.matmul(w!.transpose()), [randn([2, 90, 33]), randn([2, 1, 33])]);
  });
  it("the gradient of a batched product (tiled and transposed products of the backward)", () =>
    agreeOnGradients(([a, b]) => a!.matmul(b!).mul(a!.matmul(b!)).sum(), [randn([2, 13, 9]), randn([9, 11])]));
});

describe("scan paths", () => {
  it("chunked parallel scan over a long axis with few lanes", () =>
    agree(([a, b]) => ops.scan(a!, b!, { axis: 1 }), [randn([2, 300, 3], 0.9, 1.0), randn([2, 300, 3])], 1e-4));
  it("chunked, reversed, from h0", () =>
    agree(([a, b, h]) => ops.scan(a!, b!, { axis: 0, reverse: true, h0: h! }), [randn([200, 5], 0.5, 1.0), randn([200, 5]), randn([5])], 1e-4));
  it("one invocation per lane for wide scans", () => agree(([a, b]) => ops.scan(a!, b!, { axis: 1 }), [randn([1, 9, 4100], 0.5, 1.0), randn([1, 9, 4100])]));
  it("the gradient of a scan (a reversed scan) with h0", () =>
    agreeOnGradients(([a, b, h]) => ops.scan(a!, b!, { axis: 1, h0: h! }).mul(b!).sum(), [randn([2, 7, 3], 0.5, 1), randn([2, 7, 3]), randn([2, 3])]));
});

describe("reductions and fused composites", () => {
  it("a long sum and max use a workgroup per output", async () => {
    await agree(([x]) => x!.sum(1), [randn([3, 1000])], 1e-5);
    await agree(([x]) => x!.max([0, 2]), [randn([40, 3, 20])]);
    await agree(([x]) => x!.max(1), [randn([2, 700])]);
  });
  it("int32 sum and max", async () => {
    const t = Tensor.int32(Array.from({ length: 600 }, (_, i) => ((i * 7919) % 1000) - 500), [2, 300]);
    await agree(([x]) => x!.sum(1), [t], 0);
    await agree(([x]) => x!.max(0), [t], 0);
  });
  it("softmax over a long row and over a middle axis", async () => {
    await agree(([x]) => x!.softmax(-1), [randn([2, 700], -5, 5)]);
    await agree(([x]) => x!.logSoftmax(1), [randn([2, 5, 3], -5, 5)]);
  });
  it("rmsnorm without a weight, causalConv1d without a bias", async () => {
    await agree(([x]) => ops.rmsnorm(x!, undefined, 1e-5), [randn([3, 300])]);
    await agree(([x, w]) => ops.causalConv1d(x!, w!), [randn([2, 7, 5]), randn([5, 4])]);
  });
  it("rmsnorm with a weight and causalConv1d with a bias, and their gradients (through the decompositions)", async () => {
    await agree(([x, w]) => ops.rmsnorm(x!, w!, 1e-5), [randn([5, 70]), randn([70])]);
    await agree(([x, w, b]) => ops.causalConv1d(x!, w!, b!), [randn([2, 9, 65]), randn([65, 4]), randn([65])]);
    await agreeOnGradients(([x, w]) => ops.rmsnorm(x!, w!, 1e-5).mul(x!).sum(), [randn([3, 70]), randn([70])]);
    await agreeOnGradients(([x]) => x!.softmax(-1).mul(x!).sum(), [randn([3, 70])]);
  });
  it("sin and cos stay float32-accurate for rotary-sized angles", () => agree(([x]) => x!.sin().add(x!.cos()), [randn([4, 64], -200, 200)], 2e-6));
  it("sigmoid, silu, softplus at extremes", () =>
    agree(([x]) => x!.sigmoid().add(ops.silu(x!)).add(ops.softplus(x!)), [Tensor.float32([-200, -30, -1, 0, 1e-8, 2, 30, 200], [8])]));
  it("elementwise broadcasting of every operand, int32 arithmetic, comparisons and where", async () => {
    await agree(([a, b, c]) => ops.where(a!.less(b!), a!.mul(c!), b!.div(c!).maximum(a!)), [randn([3, 1, 5]), randn([4, 1]), randn([5], 0.5, 2)]);
    await agree(([a, b]) => a!.add(b!).mul(b!).sub(a!).neg(), [Tensor.int32([1, -2, 3, 40, 5, 6], [2, 3]), Tensor.int32([7, -8, 9], [3])], 0);
    await agree(([a, b]) => a!.equal(b!), [Tensor.int32([1, 2, 3, 4], [4]), Tensor.int32([1, 0, 3, 0], [4])], 0);
  });
});

describe("indexing, views and dtypes", () => {
  it("gather of an int32 table, an embedding lookup of ids, and its gradient (scatterAdd)", async () => {
    await agree(([t, i]) => ops.gather(t!, i!, 1), [Tensor.int32([1, 2, 3, 4, 5, 6], [2, 3]), Tensor.int32([2, 2, 0], [3])], 0);
    await agree(([t, i]) => ops.gather(t!, i!, 0), [randn([11, 6]), Tensor.int32([3, 10, 0, 3], [2, 2])]);
    await agree(([s, i]) => ops.scatterAdd(s!, i!, 0, 5), [randn([4, 3]), Tensor.int32([1, 4, 1, 0], [4])]);
  });
  it("casts between int32, float32, float16 and bfloat16 round exactly", async () => {
    const x = Tensor.float32([-3.7, 2.5, 1e-5, 70000, 123456.789, -0.3, 6.1e-5, 3e-8, -65520, Infinity, NaN]);
    for (const fn of [(v: SymTensor) => v.cast("bfloat16").cast("float16").cast("float32"), (v: SymTensor) => v.cast("float16").cast("float32")]) {
      const g = graphOf(([v]) => fn(v!), [x]);
      // toEqual: NaN equals NaN, and -0 differs from 0.
      expect(Array.from((await interp.run(g, feedsOf([x]))).y!.data)).toEqual(Array.from((await cpu.run(g, feedsOf([x]))).y!.data));
    }
    const finite = Tensor.float32([-3.7, 2.5, 1e-5, 70000, 123456.789, -0.3]);
    await agree(([v]) => v!.cast("int32").cast("float32"), [finite], 0);
    const r = await interp.run(graphOf(([v]) => v!.cast("float16"), [x]), feedsOf([x]));
    expect(r.y!.dtype).toBe("float16");
    expect(Array.from(r.y!.toFloat32())).toEqual(Array.from(x.to("float16").toFloat32()));
  });
  it("pad with -infinity, concat of three, permute, slice and expand", async () => {
    await agree(([v]) => ops.pad(v!, [0, 1, 2, 0], -Infinity), [randn([2, 3])], 0);
    await agree(([p, q, r]) => ops.concat([p!, q!, r!], 0), [randn([1, 4]), randn([3, 4]), randn([2, 4])], 0);
    await agree(([v]) => v!.permute([2, 0, 1]).slice(1, 1, 3).mul(1), [randn([3, 4, 5])], 0);
    await agree(([v]) => ops.expand(v!, [3, 4, 5]).add(0), [randn([4, 1])], 0);
  });
  it("rand matches core's hash bit for bit", async () => {
    const seed = Tensor.int32([1234], []);
    await agree(([s]) => ops.rand(s!, [3, 70]), [seed], 0);
  });
});

modelKernelCases(agree, interpreterBackend);

describe("sample kernel", () => {
  const rows = 6;
  const uniforms = Tensor.float32([0.02, 0.31, 0.5, 0.77, 0.93, 0.999], [rows]);
  const logits = randn([rows, 300], -4, 4);
  for (const options of [{}, { temperature: 1 }, { temperature: 0.7, topK: 5 }, { temperature: 1.3, topP: 0.8 }, { temperature: 1, topK: 20, topP: 0.5 }]) {
    it(`draws what the decomposition draws: ${JSON.stringify(options)}`, async () => {
      const g = graphOf(([l, u]) => ops.sample(l!, u!, options), [logits, uniforms]);
      const [a, b] = [await interp.run(g, feedsOf([logits, uniforms])), await cpu.run(g, feedsOf([logits, uniforms]))];
      expect([...a.y!.data]).toEqual([...b.y!.data]);
    });
  }
});

describe("fused elementwise chains", () => {
  it("compute what one kernel per node computes, in fewer launches", async () => {
    const inputs = [randn([4, 33]), randn([33]), randn([4, 1])];
    const fn = ([a, b, c]: SymTensor[]) => ops.silu(a!.add(b!)).mul(c!).cast("bfloat16").cast("float32").exp().neg();
    await agree(fn, inputs, 1e-6);
    await agree(fn, inputs, 1e-6, unfused);
    const g = graphOf(fn, inputs);
    const fused = await interp.compile(g);
    const plain = await unfused.compile(g);
    expect((fused as unknown as { dispatches: number }).dispatches).toBe(1);
    expect((plain as unknown as { dispatches: number }).dispatches).toBe(7);
  });

  it("read permuted, sliced and expanded inputs through index maps instead of copies", async () => {
    const inputs = [randn([5, 4, 3]), randn([4, 1]), randn([3])];
    const fn = ([a, b, c]: SymTensor[]) => ops.silu(a!.permute([2, 1, 0]).slice(2, 1, 4)).mul(ops.expand(b!, [3, 4, 3])).add(c!.reshape([3, 1, 1]));
    await agree(fn, inputs, 1e-6);
    const launches = (await interp.compile(graphOf(fn, inputs))) as unknown as { dispatches: number; savedDispatches: number };
    expect(launches.dispatches).toBe(1);
    expect(launches.savedDispatches).toBe(5);
  });

  it("turn the decompositions of gelu and tanh into one kernel each", async () => {
    for (const fn of [([x]: SymTensor[]) => ops.gelu(x!), ([x]: SymTensor[]) => ops.tanh(x!)]) {
      const inputs = [randn([3, 50], -6, 6)];
      await agree(fn, inputs, 1e-6);
      expect(((await interp.compile(graphOf(fn, inputs))) as unknown as { dispatches: number }).dispatches).toBe(1);
    }
  });

  it("keep a chain value that a view reshapes or broadcasts outside the chain", async () => {
    // (a + b) is reshaped and broadcast before the multiply: its elements are not indexed like the output.
    const inputs = [randn([2, 3]), randn([2, 3]), randn([2, 3, 5])];
    await agree(([a, b, c]) => ops.expand(a!.add(b!).reshape([2, 3, 1]), [2, 3, 5]).mul(c!), inputs, 1e-6);
    await agree(([a, b, c]) => a!.add(b!).reshape([3, 2]).permute([1, 0]).mul(c!.sum(2)), inputs, 1e-6);
  });
});

describe("float16 linear weights", () => {
  const half = new Session(new InterpreterBackend({ weights: "f16" }));
  for (const [rows, form] of [[3, "matrix-vector"], [40, "tiled"]] as const) {
    it(`${form} products equal float32 products with float16-rounded weights`, async () => {
      const w = randn([70, 95]); // odd K: the last word of each row holds one half
      const x = randn([rows, 95]);
      const p = new Parameter(w);
      const g = trace((v) => ({ y: ops.linear(v.x!, p) }), { inputs: { x: { shape: x.shape } }, parameters: [["w", p]] });
      half.setParameters([["w", p]]);
      const got = (await half.run(g, { x })).y!;
      cpu.setParameters([["w", w.to("float16").to("float32")]]);
      const want = (await cpu.run(g, { x })).y!;
      expect(maxAbsDiff(got.toFloat32(), want.toFloat32())).toBeLessThanOrEqual(1e-5);
      half.dispose();
      cpu.dispose();
    });
  }
});

/** Differentiates sum-reduced `fn` with respect to every input on both backends and compares. */
async function agreeOnGradients(fn: (xs: SymTensor[]) => SymTensor, inputs: Tensor[], tol = 1e-4): Promise<void> {
  const g = graphOf(fn, inputs);
  const grad = gradients(g, { loss: "y", params: [], inputs: inputs.map((_, i) => `x${i}`) });
  const [want, got] = [await cpu.run(grad, feedsOf(inputs)), await interp.run(grad, feedsOf(inputs))];
  for (const name of Object.keys(want)) {
    const scale = Math.max(1, ...Array.from(want[name]!.toFloat32(), Math.abs));
    expect(maxAbsDiff(got[name]!.toFloat32(), want[name]!.toFloat32()), name).toBeLessThanOrEqual(tol * scale);
  }
}
