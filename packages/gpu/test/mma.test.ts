// Tensor-core products (the mma statement, CUDA's mma.sync): the interpreter's emulation, written
// from the PTX ISA's fragment tables, runs the matmul.mma kernel; its results equal an exact
// product of the rounded (bfloat16 / TF32) inputs, and the f32 product to the inputs' precision.
// WGSL refuses the statement; misuse is a KernelError naming the kernel.
import { Session, trace, type Tensor } from "@densessm/core";
import { describe, expect, it } from "vitest";
import { defineKernel, InterpreterBackend, KernelError, packBf16x2, toTf32, u32 } from "../src/index.js";
import { randn } from "./helpers.js";

const f32 = new Float32Array(1);
const bits = new Uint32Array(f32.buffer);
const roundBf16 = (x: number) => {
  f32[0] = x;
  bits[0] = ((bits[0]! + 0x7fff + ((bits[0]! >>> 16) & 1)) >>> 16) << 16;
  return f32[0]!;
};
const roundTf32 = (x: number) => {
  f32[0] = x;
  bits[0] = (bits[0]! + 0x1000) & 0xffffe000;
  return f32[0]!;
};

/** a [batch, m, k] @ b ([batch, k, n], or [batch, n, k] read transposed) in float64 after rounding the inputs. */
function reference(a: Tensor, b: Tensor, transB: boolean, round: (x: number) => number): Float64Array {
  const [batch, m, k] = a.shape as [number, number, number];
  const n = transB ? b.shape[1]! : b.shape[2]!;
  const [x, w] = [a.toFloat32(), b.toFloat32()];
  const out = new Float64Array(batch * m * n);
  for (let z = 0; z < batch; z++)
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += round(x[(z * m + i) * k + p]!) * round(w[transB ? (z * n + j) * k + p : (z * k + p) * n + j]!);
        out[(z * m + i) * n + j] = s;
      }
  return out;
}

describe.each([
  ["bf16", roundBf16, 2 ** -8],
  ["tf32", roundTf32, 2 ** -11],
] as const)("matmul on tensor cores (%s inputs), emulated", (input, round, unit) => {
  const session = new Session(new InterpreterBackend({ debug: true, matmul: input }));
  for (const transB of [false, true]) {
    it(`ragged shapes, two batches, B ${transB ? "transposed" : "as is"}: the exact product of rounded inputs, to f32 accumulation`, async () => {
      const a = randn([2, 70, 37]);
      const b = transB ? randn([2, 45, 37]) : randn([2, 37, 45]);
      const graph = trace((v) => ({ y: v.a!.matmul(transB ? v.b!.transpose() : v.b!) }), { inputs: { a: { shape: a.shape }, b: { shape: b.shape } } });
      const y = (await session.run(graph, { a, b })).y!.toFloat32();
      const want = reference(a, b, transB, round);
      const exact = reference(a, b, transB, (v) => v);
      let fromRounded = 0;
      let fromF32 = 0;
      for (let i = 0; i < y.length; i++) {
        fromRounded = Math.max(fromRounded, Math.abs(y[i]! - want[i]!));
        fromF32 = Math.max(fromF32, Math.abs(y[i]! - exact[i]!));
      }
      expect(fromRounded).toBeLessThanOrEqual(1e-5);
      // Rounding each input costs at most `unit` of it; 37 products of values below 1 in magnitude.
      expect(fromF32).toBeLessThanOrEqual(2 * unit * 37);
      expect(fromF32).toBeGreaterThan(fromRounded); // the inputs really were rounded
    });
  }
});

describe("the mma statement", () => {
  const oneTile = defineKernel("test.mmaTile", (k, spec: { guardLanes: boolean }) => {
    k.workgroupSize(32);
    const x = k.input("x", "f32");
    const y = k.output("y", "f32");
    const lane = k.localIndex;
    if (spec.guardLanes) k.if(lane.ge(16), () => k.return());
    const acc = [0, 1, 2, 3].map((q) => k.var(`acc${q}`, "f32", 0));
    const a = [0, 1, 2, 3].map((i) => k.let(`a${i}`, packBf16x2(x.at(lane), x.at(lane.add(i)))));
    const b = [0, 1].map((i) => k.let(`b${i}`, toTf32(x.at(u32(i)))));
    k.mma("m16n8k16.bf16", a, b, acc);
    acc.forEach((v, q) => y.set(lane.mul(4).add(q), v));
  });

  it("is CUDA inline PTX (mma.sync, cvt.rn.bf16x2), and WGSL refuses it", () => {
    const program = oneTile.specialize({ guardLanes: false });
    expect(program.cuda).toContain('asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"');
    expect(program.cuda).toContain("cvt.rn.bf16x2.f32");
    expect(() => program.wgsl).toThrow(KernelError);
    expect(() => program.wgsl).toThrow(/packBf16x2 has no WGSL form/);
  });

  it("in divergent control flow, or in a workgroup that is not whole warps, is an error naming the kernel", () => {
    const divergent = defineKernel("test.mmaDivergent", (k) => {
      k.workgroupSize(32);
      const y = k.output("y", "f32");
      const acc = [0, 1, 2, 3].map((q) => k.var(`acc${q}`, "f32", 0));
      k.if(k.localIndex.lt(8), () => k.mma("m16n8k8.tf32", [u32(0), u32(0), u32(0), u32(0)], [u32(0), u32(0)], acc));
      y.set(k.localIndex, acc[0]!);
    });
    expect(() => divergent.specialize({})).toThrow(/kernel "test\.mmaDivergent": mma #0 is in divergent control flow/);
    const partial = defineKernel("test.mmaPartialWarp", (k) => {
      k.workgroupSize(48);
      const acc = [0, 1, 2, 3].map((q) => k.var(`acc${q}`, "f32", 0));
      k.mma("m16n8k8.tf32", [u32(0), u32(0), u32(0), u32(0)], [u32(0), u32(0)], acc);
    });
    expect(() => partial.specialize({})).toThrow(/with mma statements runs whole warps: its 48x1x1 workgroup is not a multiple of 32/);
    expect(() => defineKernel("test.mmaBadArity", (k) => k.mma("m16n8k16.bf16", [u32(0)], [u32(0), u32(0)], [])).specialize({})).toThrow(/takes 4 A words, 2 B words and 4 accumulators, got 1, 2 and 0/);
  });

  it("after a return some lanes took, is in divergent control flow (caught before any target runs it)", () => {
    expect(() => oneTile.specialize({ guardLanes: true })).toThrow(/kernel "test\.mmaTile": mma #0 is in divergent control flow/);
  });
});
