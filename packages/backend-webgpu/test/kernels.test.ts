// Kernel paths the conformance suite's small shapes do not reach (the tiled matmul with batch
// axes, the batched matrix-vector fold, the chunked scan, workgroup reductions, quantized
// products), each checked against the CPU backend on the same graph. Shapes stay small: CI runs
// these on SwiftShader.
import { ops, quantizeWeight, Session, Tensor, type SymTensor } from "@densessm/core";
import { describe, expect, it } from "vitest";
import { WebGpuBackend } from "../src/index.js";
import { modelKernelCases } from "../../gpu/test/model-kernels.js";
import { agree, feedsOf, gpu, gpuBackend, graphOf, randn } from "./helpers.js";

// The helpers' backend picks the matrix-vector form for its adapter; this one forces the other.
const otherMatvec = new Session(await WebGpuBackend.create({ matvec: gpuBackend.software ? "workgroup" : "thread" }));

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

modelKernelCases(agree, gpuBackend);
