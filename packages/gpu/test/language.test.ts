// The kernel language itself: bad programs are KernelErrors naming the kernel and the problem; the
// interpreter's debug mode names the kernel, buffer and index of a fault; barriers synchronise
// workgroups; atomics, f16 storage, specialization and both emitters behave as documented.
import { float16BitsToFloat32, float32ToFloat16Bits } from "@densessm/core";
import { describe, expect, it } from "vitest";
import { defineKernel, emitCuda, f32, i32, interpret, KernelError, KernelProgram, u32, type KernelIR } from "../src/index.js";

describe("bad kernels are errors naming the kernel and the problem", () => {
  it("a type mismatch", () => {
    const bad = defineKernel("bad.types", (k) => {
      const x = k.input("x", "f32");
      const y = k.output("y", "f32");
      y.set(0, x.at(0).add(i32(1) as never));
    });
    expect(() => bad.specialize({})).toThrow(new KernelError('kernel "bad.types": type mismatch in add: f32 and i32'));
  });

  it("a value of the wrong type stored, assigned, or used as an index or condition", () => {
    const store = defineKernel("bad.store", (k) => k.output("y", "i32").set(0, f32(1) as never));
    expect(() => store.specialize({})).toThrow(/kernel "bad.store": type mismatch storing a f32 into "y" \(i32\)/);
    const assign = defineKernel("bad.assign", (k) => k.var("v", "u32", 0).set(f32(2) as never));
    expect(() => assign.specialize({})).toThrow(/kernel "bad.assign": type mismatch assigning a f32 to u32 variable "v"/);
    const index = defineKernel("bad.index", (k) => k.output("y", "f32").set(f32(0) as never, 1));
    expect(() => index.specialize({})).toThrow(/kernel "bad.index": store to "y": index must be u32 or i32, got f32/);
    const cond = defineKernel("bad.cond", (k) => k.if(u32(1) as never, () => k.return()));
    expect(() => cond.specialize({})).toThrow(/kernel "bad.cond": if condition is a u32, not a bool/);
  });

  it("a barrier in divergent control flow: a branch on the invocation id", () => {
    const bad = defineKernel("bad.barrier", (k) => {
      const part = k.shared("part", "f32", 64);
      k.if(k.localIndex.lt(32), () => {
        part.set(k.localIndex, 1);
        k.barrier();
      });
    });
    expect(() => bad.specialize({})).toThrow(/kernel "bad.barrier": workgroup barrier #0 is in divergent control flow/);
  });

  it("a barrier after a divergent return, in a loop with a divergent bound, after a divergent break", () => {
    const afterReturn = defineKernel("bad.afterReturn", (k) => {
      k.if(k.globalId.x.ge(100), () => k.return());
      k.barrier();
    });
    expect(() => afterReturn.specialize({})).toThrow(/kernel "bad.afterReturn": workgroup barrier #0 is in divergent control flow/);
    const loop = defineKernel("bad.loop", (k) => k.range("j", k.localIndex, 100, () => k.barrier(), 64));
    expect(() => loop.specialize({})).toThrow(/kernel "bad.loop": workgroup barrier #0/);
    const brk = defineKernel("bad.break", (k) => {
      const x = k.output("x", "f32");
      k.range("j", 0, 10, (j) => {
        k.barrier();
        k.if(x.at(j).gt(0), () => k.break()); // read-write memory: may differ per invocation
      });
    });
    expect(() => brk.specialize({})).toThrow(/kernel "bad.break": workgroup barrier #0/);
  });

  it("accepts barriers after a return on a workgroup-uniform condition and in uniform loops", () => {
    const ok = defineKernel("ok.uniform", (k, spec: { rows: number }) => {
      const y = k.output("y", "f32");
      const part = k.shared("part", "f32", 64);
      k.if(k.groupId.x.ge(spec.rows), () => k.return());
      k.range("s", 0, 3, () => {
        part.set(k.localIndex, 1);
        k.barrier();
      });
      k.if(k.localIndex.eq(0), () => y.set(k.groupId.x, part.at(63)));
    });
    expect(ok.specialize({ rows: 2 }).wgsl).toContain("workgroupBarrier()");
  });

  it("a buffer bound twice where it is written", () => {
    const copy = defineKernel("bad.alias", (k) => {
      const x = k.input("x", "f32");
      const y = k.output("y", "f32");
      y.set(k.globalId.x, x.at(k.globalId.x));
    });
    const buffer = new Float32Array(64);
    expect(() => interpret(copy.specialize({}), [buffer, buffer], [1, 1, 1])).toThrow(
      new KernelError('kernel "bad.alias": one buffer is bound to "x" (read) and "y" (read_write): a buffer a kernel writes must be bound once'),
    );
    expect(() => interpret(copy.specialize({}), [buffer], [1, 1, 1])).toThrow(/kernel "bad.alias": 2 storage buffers are declared \(x, y\), 1 were bound/);
  });

  it("a store to a read-only buffer, a name declared twice, break outside a loop", () => {
    const readOnly = defineKernel("bad.readonly", (k) => k.input("x", "f32").set(0, 1));
    expect(() => readOnly.specialize({})).toThrow(/kernel "bad.readonly": store to "x", which is read-only/);
    const twice = defineKernel("bad.twice", (k) => {
      k.input("x", "f32");
      k.output("x", "f32");
    });
    expect(() => twice.specialize({})).toThrow(/kernel "bad.twice": buffer "x" is declared twice/);
    const brk = defineKernel("bad.outside", (k) => k.break());
    expect(() => brk.specialize({})).toThrow(/kernel "bad.outside": break outside a loop/);
  });

  it("gives reserved words of any target a safe name instead of failing", () => {
    const named = defineKernel("ok.names", (k) => {
      const y = k.output("y", "f32");
      const v = k.let("var", f32(2));
      const w = k.let("threadIdx", v.mul(3));
      y.set(0, w);
    });
    const p = named.specialize({});
    expect(p.wgsl).toContain("let var_v = 2.0f;");
    expect(p.cuda).toContain("const float threadIdx_v = var_v * 3.0f;");
    const y = new Float32Array(1);
    interpret(p, [y], [1, 1, 1]);
    expect(y[0]).toBe(6);
  });
});

/** A program straight from IR, past the static checks (as a tool generating IR could make one). */
const unchecked = (body: KernelIR["body"], shared: KernelIR["shared"] = []): KernelProgram =>
  new KernelProgram({ name: "handwritten", entry: "handwritten", workgroupSize: [4, 1, 1], storage: [{ name: "y", elem: "f32", access: "read_write", atomic: false }], params: [], shared, consts: [], body }, "{}");

describe("the interpreter's debug mode names kernel, buffer and index", () => {
  const reader = defineKernel("oob", (k, spec: { n: number }) => {
    const x = k.input("x", "f32");
    const y = k.output("y", "f32");
    const i = k.let("i", k.globalId.x);
    k.if(i.lt(spec.n), () => y.set(i, x.at(i.add(1))));
  });

  it("an out-of-bounds read or write", () => {
    expect(() => interpret(reader.specialize({ n: 8 }), [new Float32Array(8), new Float32Array(8)], [1, 1, 1])).toThrow(
      new KernelError(`kernel "oob (${reader.specialize({ n: 8 }).entry})": out-of-bounds read of x[8]: "x" (8 elements) in workgroup (0, 0, 0), invocation (7, 0, 0)`),
    );
    expect(() => interpret(reader.specialize({ n: 8 }), [new Float32Array(9), new Float32Array(4)], [1, 1, 1])).toThrow(/out-of-bounds write of y\[4\]: "y" \(4 elements\)/);
    // Without debug checks a read past the end is NaN (undefined), as robust GPU access would not fault.
    expect(() => interpret(reader.specialize({ n: 8 }), [new Float32Array(8), new Float32Array(8)], [1, 1, 1], { debug: false })).not.toThrow();
  });

  it("a barrier reached by only some invocations", () => {
    const lid = { k: "builtin", t: "u32", name: "localIndex", axis: 0 } as const;
    const program = unchecked([
      { k: "if", cond: { k: "binary", t: "bool", op: "lt", a: lid, b: { k: "lit", t: "u32", v: 2 } }, then: [{ k: "return" }], else: [] },
      { k: "barrier", id: 0 },
    ]);
    expect(() => interpret(program, [new Float32Array(4)], [1, 1, 1])).toThrow(
      /kernel "handwritten \(handwritten\)": barrier #0 was reached by 2 of 4 invocations; invocation \(0, 0, 0\) and 1 other\(s\) had returned in workgroup \(0, 0, 0\)/,
    );
  });

  it("invocations waiting at different barriers", () => {
    const lid = { k: "builtin", t: "u32", name: "localIndex", axis: 0 } as const;
    const program = unchecked([{ k: "if", cond: { k: "binary", t: "bool", op: "lt", a: lid, b: { k: "lit", t: "u32", v: 1 } }, then: [{ k: "barrier", id: 0 }], else: [{ k: "barrier", id: 1 }] }]);
    expect(() => interpret(program, [new Float32Array(4)], [1, 1, 1])).toThrow(/invocations wait at different barriers: \(0, 0, 0\) at #0, \(1, 0, 0\) at #1/);
  });

  it("a read of workgroup memory no invocation wrote", () => {
    const uninit = defineKernel("uninit", (k) => {
      const y = k.output("y", "f32");
      const part = k.shared("part", "f32", 64);
      k.if(k.localIndex.lt(63), () => part.set(k.localIndex, 1));
      k.barrier();
      y.set(k.localIndex, part.at(u32(63).sub(k.localIndex)));
    });
    expect(() => interpret(uninit.specialize({}), [new Float32Array(64)], [1, 1, 1])).toThrow(/kernel "uninit \(uninit_[0-9a-f]{8}\)": read of uninitialised workgroup memory part\[63\] in workgroup \(0, 0, 0\), invocation \(0, 0, 0\)/);
  });
});

describe("semantics", () => {
  it("workgroup invocations advance in lockstep between barriers", () => {
    // Each reads its neighbour's value after the barrier: right only if every write came first.
    const rotate = defineKernel("rotate", (k) => {
      const y = k.output("y", "u32");
      const part = k.shared("part", "u32", 64);
      const tid = k.localIndex;
      part.set(tid, tid.mul(10).add(k.groupId.x));
      k.barrier();
      y.set(k.globalId.x, part.at(tid.add(1).rem(64)));
    });
    const y = new Uint32Array(128);
    interpret(rotate.specialize({}), [y], [2, 1, 1]);
    expect(y[0]).toBe(10);
    expect(y[63]).toBe(0);
    expect(y[64]).toBe(11);
  });

  it("atomics on storage and workgroup memory", () => {
    const histogram = defineKernel("histogram", (k, spec: { n: number; bins: number }) => {
      const x = k.input("x", "u32");
      const counts = k.output("counts", "u32", { atomic: true });
      const seen = k.shared("seen", "u32", 1, { atomic: true });
      const i = k.let("i", k.globalId.x);
      k.if(k.localIndex.eq(0), () => void seen.atomicOp("exchange", 0, 0));
      k.barrier();
      k.if(i.lt(spec.n), () => {
        counts.atomicOp("add", x.at(i).rem(spec.bins), 1);
        seen.atomicOp("add", 0, 1);
      });
      k.barrier();
      k.if(k.localIndex.eq(0), () => void counts.atomicOp("max", spec.bins, seen.atomicOp("or", 0, 0)));
    });
    const x = Uint32Array.from({ length: 100 }, (_, i) => (i * 7) % 13);
    const counts = new Uint32Array(6);
    const p = histogram.specialize({ n: 100, bins: 5 });
    interpret(p, [x, counts], [2, 1, 1]);
    const want = [0, 0, 0, 0, 0];
    for (const v of x) want[v % 5]!++;
    expect([...counts.slice(0, 5)]).toEqual(want);
    expect(counts[5]).toBe(64); // the first workgroup saw 64 values, the second 36
    expect(p.wgsl).toContain("array<atomic<u32>>");
    expect(p.cuda).toContain("atomicAdd(&counts[");
  });

  it("f16 storage rounds to nearest even on store and widens exactly on load", () => {
    const halve = defineKernel("halve", (k) => {
      const x = k.input("x", "f16");
      const y = k.output("y", "f16");
      const i = k.let("i", k.globalId.x);
      k.if(i.lt(5), () => y.set(i, x.at(i).mul(0.5)));
    });
    const values = [1, 3.0009765625, 65504, 6.1e-5, -0];
    const x = Uint16Array.from(values.map(float32ToFloat16Bits));
    const y = new Uint16Array(5);
    const p = halve.specialize({});
    interpret(p, [x, y], [1, 1, 1]);
    expect([...y].map(float16BitsToFloat32)).toEqual(values.map((v) => float16BitsToFloat32(float32ToFloat16Bits(Math.fround(float16BitsToFloat32(float32ToFloat16Bits(v)) * 0.5)))));
    expect(p.wgsl).toMatch(/enable f16;[\s\S]*array<f16>/);
    expect(p.cuda).toContain("_f2h(");
  });

  it("integer arithmetic wraps, divides toward zero and converts with saturation", () => {
    const ints = defineKernel("ints", (k) => {
      const y = k.output("y", "i32");
      const u = k.output("u", "u32");
      y.set(0, i32(2 ** 31 - 1).add(1));
      y.set(1, i32(-7).div(2));
      y.set(2, i32(-7).rem(2));
      y.set(3, f32(3e9).i32());
      y.set(4, f32(-2.7).i32());
      u.set(0, u32(0).sub(1));
      u.set(1, u32(0x80000000).shr(31));
      u.set(2, u32(7).div(0));
      const w = k.var("w", "u32", 0);
      const n = k.var("n", "u32", 0);
      k.while(w.lt(10), () => {
        w.set(w.add(1));
        k.if(w.rem(2).eq(0), () => k.continue());
        n.set(n.add(1));
      });
      u.set(3, n);
    });
    const y = new Int32Array(5);
    const u = new Uint32Array(4);
    interpret(ints.specialize({}), [y, u], [1, 1, 1]);
    expect([...y]).toEqual([-(2 ** 31), -3, -1, 2 ** 31 - 1, -2]);
    expect([...u]).toEqual([2 ** 32 - 1, 1, 7, 5]);
  });

  it("specializes once per distinct spec, with an entry name unique to it", () => {
    const scale = defineKernel("scale", (k, spec: { factor: number; n: number }) => {
      const y = k.output("y", "f32");
      const i = k.let("i", k.globalId.x);
      k.if(i.lt(spec.n), () => y.set(i, y.at(i).mul(spec.factor)));
    });
    const a = scale.specialize({ factor: 2, n: 8 });
    expect(scale.specialize({ n: 8, factor: 2 })).toBe(a);
    const b = scale.specialize({ factor: 3, n: 8 });
    expect(b).not.toBe(a);
    expect(b.entry).not.toBe(a.entry);
    expect(a.entry).toMatch(/^scale_[0-9a-f]{8}$/);
  });

  it("emits self-contained CUDA: extern \"C\" __global__, no headers, __shared__ and __syncthreads", () => {
    const program = defineKernel("cudaShape", (k, spec: { rows: number }) => {
      k.workgroupSize(64);
      const x = k.input("x", "f32");
      const y = k.output("y", "f32");
      const m = k.param("m", "u32");
      const part = k.shared("part", "f32", 64);
      part.set(k.localIndex, x.at(k.groupId.x.mul(m).add(k.localIndex)));
      k.barrier();
      k.if(k.localIndex.eq(0).and(k.groupId.x.lt(spec.rows)), () => y.set(k.groupId.x, part.at(1)));
    }).specialize({ rows: 3 });
    const cuda = emitCuda(program.ir);
    expect(cuda).not.toContain("#include");
    expect(cuda).toContain(`extern "C" __global__ void __launch_bounds__(64) ${program.entry}(const float* __restrict__ x, float* __restrict__ y, unsigned int m)`);
    expect(cuda).toContain("__shared__ float part[64];");
    expect(cuda).toContain("__syncthreads();");
    expect(program.wgsl).toContain("@group(0) @binding(2) var<uniform> _P: Params;");
  });
});
