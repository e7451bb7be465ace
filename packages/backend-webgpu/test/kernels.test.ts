// Kernel paths the conformance suite's small shapes do not reach (the tiled matmul with batch
// axes, the batched matrix-vector fold, the chunked scan, workgroup reductions, quantized
// products), each checked against the CPU backend on the same graph. Shapes stay small: CI runs
// these on SwiftShader.
import { CausalLM, lower, ops, quantizeWeight, Session, Tensor, type SymTensor } from "@densessm/core";
import { denseFusion } from "@densessm/fusion";
import { chunkwiseRetention, DenseGauRetNetConfig, parallelRetention } from "@densessm/retnet";
import { describe, expect, it } from "vitest";
import { WebGpuBackend } from "../src/index.js";
import { cpu, feedsOf, gpu, gpuBackend, graphOf, maxAbsDiff, randn } from "./helpers.js";

// The helpers' backend picks the matrix-vector form for its adapter; this one forces the other.
const otherMatvec = new Session(await WebGpuBackend.create({ matvec: gpuBackend.software ? "workgroup" : "thread" }));

async function agree(fn: (xs: SymTensor[]) => SymTensor, inputs: Tensor[], tol = 1e-5, session = gpu): Promise<void> {
  const g = graphOf(fn, inputs);
  const [want, got] = [(await cpu.run(g, feedsOf(inputs))).y!, (await session.run(g, feedsOf(inputs))).y!];
  expect(got.shape).toEqual(want.shape);
  expect(got.dtype).toBe(want.dtype);
  const scale = Math.max(1, ...Array.from(want.toFloat32(), Math.abs).filter(Number.isFinite));
  expect(maxAbsDiff(got.toFloat32(), want.toFloat32())).toBeLessThanOrEqual(tol * scale);
}

describe("matmul paths", () => {
  it("tiled, ragged edges, broadcast batch", () => agree(([a, b]) => a!.matmul(b!), [randn([2, 1, 37, 45]), randn([3, 45, 70])]));
  it("tiled with B transposed in place (x @ W^T)", () => agree(([a, b]) => a!.matmul(b!.transpose()), [randn([2, 33, 40]), randn([50, 40])]));
  it("matrix-vector, B transposed, batch of 8 single rows folded into one product", () =>
    agree(([a, b]) => a!.matmul(b!.transpose()), [randn([8, 1, 96]), randn([130, 96])]));
  it("matrix-vector, B transposed, in the other reduction form", () =>
    agree(([a, b]) => a!.matmul(b!.transpose()), [randn([3, 2, 96]), randn([70, 96])], 1e-5, otherMatvec));
  it("matrix-vector with B in [K, N] layout", () => agree(([a, b]) => a!.matmul(b!), [randn([3, 2, 20]), randn([3, 20, 70])]));
});

describe("quantized products (codes as raw bytes, dequantized in registers)", () => {
  // backend-cpu rounds the activations to 16-bit integers per block: about 1e-4 of an output.
  for (const q of [{ bits: 8 as const, groupSize: 96 }, { bits: 4 as const, groupSize: 32 }]) {
    const { codes, scale } = quantizeWeight(randn([70, 96], -0.5, 0.5), q);
    const inputs = (rows: number) => [randn([rows, 96]), codes, scale.to("float32")];
    const product = ([x, c, s]: SymTensor[]) => ops.quantizedMatmul(x!, c!, s!, { ...q, cols: 96 });
    it(`${q.bits} bits: matrix-vector in both reduction forms, and tiled`, async () => {
      await agree(product, inputs(2), 1e-4);
      await agree(product, inputs(2), 1e-4, otherMatvec);
      await agree(product, inputs(40), 1e-4);
    });
  }
});

describe("scan paths", () => {
  it("chunked parallel scan over a long axis with few lanes", () =>
    agree(([a, b]) => ops.scan(a!, b!, { axis: 1 }), [randn([2, 300, 3], 0.9, 1.0), randn([2, 300, 3])], 1e-4));
  it("chunked, reversed, from h0", () =>
    agree(([a, b, h]) => ops.scan(a!, b!, { axis: 0, reverse: true, h0: h! }), [randn([200, 5], 0.5, 1.0), randn([200, 5]), randn([5])], 1e-4));
  it("one thread per lane for wide scans", () => agree(([a, b]) => ops.scan(a!, b!, { axis: 1 }), [randn([1, 9, 4100], 0.5, 1.0), randn([1, 9, 4100])]));
});

describe("reductions and fused composites", () => {
  it("a long sum and max use a workgroup per output", async () => {
    await agree(([x]) => x!.sum(1), [randn([3, 1000])], 1e-5);
    await agree(([x]) => x!.max([0, 2]), [randn([40, 3, 20])]);
  });
  it("int32 sum and max", async () => {
    const t = Tensor.int32(Array.from({ length: 600 }, (_, i) => (i * 7919) % 1000 - 500), [2, 300]);
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
  it("sin and cos stay float32-accurate for rotary-sized angles", () => agree(([x]) => x!.sin().add(x!.cos()), [randn([4, 64], -200, 200)], 2e-6));
});

describe("indexing and dtypes", () => {
  it("gather of an int32 table, and an embedding lookup of ids", async () => {
    await agree(([t, i]) => ops.gather(t!, i!, 1), [Tensor.int32([1, 2, 3, 4, 5, 6], [2, 3]), Tensor.int32([2, 2, 0], [3])], 0);
    await agree(([t, i]) => ops.gather(t!, i!, 0), [randn([11, 6]), Tensor.int32([3, 10, 0, 3], [2, 2])]);
  });
  it("casts between int32, float32, float16 and bfloat16", async () => {
    const x = Tensor.float32([-3.7, 2.5, 1e-5, 70000, 123456.789, -0.3]);
    await agree(([v]) => v!.cast("int32").cast("float32"), [x], 0);
    await agree(([v]) => v!.cast("bfloat16").cast("float16").cast("float32"), [x], 0);
    const r = await gpu.run(graphOf(([v]) => v!.cast("float16"), [x]), feedsOf([x]));
    expect(r.y!.dtype).toBe("float16");
    expect(Array.from(r.y!.toFloat32())).toEqual(Array.from(x.to("float16").toFloat32()));
  });
  it("pad with -infinity and concat of three", async () => {
    await agree(([v]) => ops.pad(v!, [0, 1, 2, 0], -Infinity), [randn([2, 3])], 0);
    await agree(([p, q, r]) => ops.concat([p!, q!, r!], 0), [randn([1, 4]), randn([3, 4]), randn([2, 4])], 0);
  });
});

describe("retention and dense fusion kernels", () => {
  // DenseGAU-RetNet's decays for 3 heads; classic RetNet's slowest (1 - 2^-12) tests the running
  // scale where 1 - γ^(t+1) would cancel.
  const gammas = [1 - 2 ** -5, 1 - 2 ** -6, 1 - 2 ** -7];
  const qkv = (batch: number, len: number, dk: number, dv: number, heads = 3) => [randn([batch, heads, len, dk]), randn([batch, heads, len, dk]), randn([batch, heads, len, dv])];

  it("parallel with the row divisor, B = 2, dv over two ragged column blocks", () =>
    agree(([q, k, v]) => parallelRetention(q!, k!, v!, { gammas, rowNormalize: true }), qkv(2, 13, 6, 65)));
  it("parallel without the row divisor, longer rows", () => agree(([q, k, v]) => parallelRetention(q!, k!, v!, { gammas, rowNormalize: false }), qkv(1, 40, 4, 8)));
  it("chunkwise, L not a multiple of the chunk, from position 5, dk ≠ dv", () =>
    agree(([q, k, v]) => chunkwiseRetention(q!, k!, v!, { gammas, chunkSize: 4, start: 5 }), qkv(2, 13, 6, 5)));
  it("chunkwise with one token per chunk (all carried state)", () => agree(([q, k, v]) => chunkwiseRetention(q!, k!, v!, { gammas, chunkSize: 1 }), qkv(1, 6, 4, 3)));
  it("chunkwise and parallel with a decay of 1 - 2^-12", async () => {
    const slow = [1 - 2 ** -12];
    await agree(([q, k, v]) => chunkwiseRetention(q!, k!, v!, { gammas: slow, chunkSize: 3 }), qkv(1, 8, 4, 4, 1));
    await agree(([q, k, v]) => parallelRetention(q!, k!, v!, { gammas: slow }), qkv(1, 8, 4, 4, 1));
  });
  it("dense fusion of six shallow states (two dispatches)", () =>
    agree(([current, gate, ...shallow]) => denseFusion(current!, gate!, shallow), Array.from({ length: 8 }, () => randn([3, 70]))));

  it("keep a model's retention and dense fusion as single nodes, with no decay mask", () => {
    const lm = CausalLM.fromConfig(DenseGauRetNetConfig.fromJSON({ model_type: "llama", hidden_size: 32, query_key_dim: 8, num_attention_heads: 2, num_hidden_layers: 3, vocab_size: 13, v_factor: 1, dense_block_layers: 1 }), { seed: 3 });
    const lowered = lower(lm.sequenceGraph(1, 9), (op) => gpuBackend.capabilities.ops.has(op));
    expect(lowered.nodes.filter((n) => n.op === "retnet.parallelRetention")).toHaveLength(3);
    expect(lowered.nodes.filter((n) => n.op === "fusion.denseFusion")).toHaveLength(4);
    expect(lowered.nodes.filter((n) => n.op === "const" && n.shape.length === 3 && n.shape[1] === 9 && n.shape[2] === 9)).toEqual([]);
  });
});
