// The CUDA runtime's host side over the mock driver: the caching allocator, argument blocks, the
// order of writes and recorded work, CUDA graphs of decoding steps (one launch per token), faults,
// and the reasons given when kernels or drivers cannot be used.
import { fileURLToPath } from "node:url";
import { CausalLM, Session, Tensor, trace } from "@densessm/core";
import { defineKernel } from "@densessm/gpu";
import "@densessm/retnet";
import { describe, expect, it } from "vitest";
import { CachingAllocator, CudaBackend, KernelLoader, MockCompiler, MockDriver, sizeClass, type ShippedPtx } from "../src/index.js";
import { mockBackend } from "./helpers.js";

const models = fileURLToPath(new URL("../../../models/", import.meta.url));

/** y[i] = x[i] * scale + offset, for i < n (a launch's pointers and parameters, checked through its output). */
const affine = defineKernel("test.cudaAffine", (k) => {
  const x = k.input("x", "f32");
  const y = k.output("y", "f32");
  const n = k.param("n", "u32");
  const scale = k.param("scale", "f32");
  const offset = k.param("offset", "i32");
  const i = k.let("i", k.globalId.x);
  k.if(i.ge(n), () => k.return());
  y.set(i, x.at(i).mul(scale).add(offset.f32()));
});

const words = (n: number, scale: number, offset: number) => {
  const w = new Uint32Array(3);
  w[0] = n;
  new Float32Array(w.buffer)[1] = scale;
  new Int32Array(w.buffer)[2] = offset;
  return w;
};

async function readFloats(backend: CudaBackend, buffer: ReturnType<CudaBackend["runtime"]["alloc"]>, n: number): Promise<number[]> {
  return [...new Float32Array(await backend.runtime.read(backend.runtime.stage(buffer, 4 * n)))];
}

describe("caching allocator", () => {
  it("rounds to size classes and hands freed blocks out again without calling the driver", () => {
    const driver = new MockDriver();
    driver.init();
    const allocator = new CachingAllocator(driver);
    expect([sizeClass(4), sizeClass(513), sizeClass(1 << 20), sizeClass((1 << 20) + 1)]).toEqual([512, 1024, 1 << 20, 2 << 20]);
    const a = allocator.alloc(1000);
    allocator.free(a);
    const b = allocator.alloc(700);
    expect(b.pointer).toBe(a.pointer);
    expect(driver.calls.cuMemAlloc).toBe(1);
    expect(allocator.stats).toMatchObject({ inUseBytes: 1024, cachedBytes: 0, driverAllocations: 1, reused: 1 });
  });

  it("out of memory, releases its cache and tries again; then names what it could not get", () => {
    const driver = new MockDriver({ memoryBytes: 8 << 20 });
    driver.init();
    const allocator = new CachingAllocator(driver);
    allocator.free(allocator.alloc(4 << 20)); // cached, still held from the driver
    const big = allocator.alloc(6 << 20); // does not fit next to the cached block
    expect(driver.calls.cuMemFree).toBe(1);
    expect(allocator.stats.cachedBytes).toBe(0);
    expect(() => allocator.alloc(4 << 20)).toThrow(/^cuda: out of device memory allocating 4\.0 MiB \(6\.0 MiB in use by this backend, 0\.0 MiB of cache released first; the device has 2\.0 MiB free of 8\.0 MiB\)$/);
    allocator.free(big);
  });
});

describe("dry runs (execute: false)", () => {
  it("account device memory without holding it, so a large model's kernels are found at its real shape", () => {
    const driver = new MockDriver({ execute: false });
    driver.init();
    const pointer = driver.memAlloc(2 ** 40); // 1 TiB: checked and counted, never allocated on the host
    expect(driver.memoryInfo().total - driver.memoryInfo().free).toBe(2 ** 40);
    driver.memFree(pointer);
    expect(driver.memoryInfo().total - driver.memoryInfo().free).toBe(0);
    expect(() => driver.memFree(pointer)).toThrow(/is not an allocation/);
  });
});

describe("launches", () => {
  it("pass pointers and u32 / f32 / i32 parameters through the 8-byte argument slots", async () => {
    const { backend } = await mockBackend({ mock: { debug: true } });
    const rt = backend.runtime;
    const program = affine.specialize({});
    const kernel = await rt.compile(program);
    const [x, y] = [rt.alloc(4 * 100), rt.alloc(4 * 100)];
    rt.write(x, Float32Array.from({ length: 100 }, (_, i) => i));
    const binding = rt.bind(kernel, [x, y], words(100, 0.5, -3));
    const slots = new DataView(binding.args.values.buffer);
    expect([slots.getBigUint64(0, true), slots.getBigUint64(8, true)]).toEqual([x.pointer, y.pointer]);
    expect([slots.getUint32(16, true), slots.getFloat32(24, true), slots.getInt32(32, true)]).toEqual([100, 0.5, -3]);
    rt.dispatch(binding, [2, 1, 1]);
    await rt.submit();
    expect((await readFloats(backend, y, 100)).slice(0, 4)).toEqual([-3, -2.5, -2, -1.5]);
  });

  it("keep their order with host writes: a write waits for the launches recorded before it", async () => {
    const { backend } = await mockBackend();
    const rt = backend.runtime;
    const kernel = await rt.compile(affine.specialize({}));
    const [x, y] = [rt.alloc(16), rt.alloc(16)];
    rt.write(x, Float32Array.of(1, 2, 3, 4));
    rt.dispatch(rt.bind(kernel, [x, y], words(4, 1, 0)), [1, 1, 1]);
    rt.write(x, Float32Array.of(9, 9, 9, 9)); // after the launch that reads the old values
    expect(await readFloats(backend, y, 4)).toEqual([1, 2, 3, 4]);
  });

  it("a kernel fault fails the submit, names the kernel and the access, and every later call", async () => {
    const { backend } = await mockBackend({ mock: { debug: true } });
    const rt = backend.runtime;
    const kernel = await rt.compile(affine.specialize({}));
    const [x, y] = [rt.alloc(16), rt.alloc(16)];
    rt.dispatch(rt.bind(kernel, [x, y], words(1000, 1, 0)), [16, 1, 1]); // n past the 4-element buffers
    await expect(rt.submit()).rejects.toThrow(/cuLaunchKernel failed: CUDA_ERROR_ILLEGAL_ADDRESS \(an illegal memory access was encountered\): kernel "test\.cudaAffine.*out-of-bounds/);
    expect(() => rt.write(x, Float32Array.of(1))).toThrow(/CUDA_ERROR_ILLEGAL_ADDRESS/);
  });

  it("compile every new kernel of a graph in one NVRTC translation unit", async () => {
    const { backend, compiler } = await mockBackend();
    const session = new Session(backend);
    const x = Tensor.float32([1, -2, 3, -4, 5, -6], [2, 3]);
    const graph = trace((v) => ({ y: v.x!.matmul(v.x!.transpose()).softmax().sum(0).exp() }), { inputs: { x: { shape: [2, 3] } } });
    await session.run(graph, { x });
    expect(backend.loader.stats.compiled).toBeGreaterThan(2);
    expect(compiler.units).toBe(1);
  });
});

describe("CUDA graphs", () => {
  it("decode each token with one graph launch once the step repeats", async () => {
    const { backend, driver } = await mockBackend();
    const session = new Session(backend);
    const lm = await CausalLM.fromPretrained(`${models}dense-gau-retnet-tiny`);
    lm.bind(session);
    const decoder = await lm.startDecoding(session, [[1, 2, 3]]);
    const draw = { uniforms: new Float32Array(1) };
    let next = await decoder.step([4], draw);
    // Warm-up: the step's buffers cycle through a few arrangements (outputs and states alternate
    // between pooled buffers); each is captured once.
    for (let t = 0; t < 8; t++) next = await decoder.step([...next], draw);
    const before = { ...driver.calls };
    const tokens = 6;
    for (let t = 0; t < tokens; t++) next = await decoder.step([...next], draw);
    const delta = (call: string) => (driver.calls[call] ?? 0) - (before[call] ?? 0);
    expect(delta("cuGraphLaunch")).toBe(tokens);
    expect(delta("cuLaunchKernel")).toBe(0);
    expect(delta("cuStreamBeginCapture")).toBe(0);
    expect(backend.runtime.graphs!.stats).toMatchObject({ instantiated: 4, updated: 0 });
    decoder.dispose();
  });

  it("update a graph in place (cuGraphExecUpdate) once a topology has 8 variants, and compute what each variant says", async () => {
    const { backend, driver } = await mockBackend({ mock: { debug: true } });
    const rt = backend.runtime;
    const kernel = await rt.compile(affine.specialize({}));
    const [x, y, z] = [rt.alloc(16), rt.alloc(16), rt.alloc(16)];
    rt.write(x, Float32Array.of(1, 2, 3, 4));
    for (let round = 0; round < 2; round++) {
      for (let v = 0; v < 12; v++) {
        // Same kernels and grids every time; the second launch's offset differs per variant.
        rt.dispatch(rt.bind(kernel, [x, y], words(4, 2, 0)), [1, 1, 1]);
        rt.dispatch(rt.bind(kernel, [y, z], words(4, 1, v)), [1, 1, 1]);
        expect(await readFloats(backend, z, 4)).toEqual([2 + v, 4 + v, 6 + v, 8 + v]);
      }
    }
    const { instantiated, updated, replays } = rt.graphs!.stats;
    expect(instantiated).toBe(8);
    expect(updated).toBe(24 - 1 - 8); // every later variant (first seen: issued directly)
    expect(replays).toBe(23);
    expect(driver.calls.cuGraphExecUpdate).toBe(updated);
  });

  it("give the same tokens as launching kernel by kernel", async () => {
    const decode = async (graphs: boolean) => {
      const { backend } = await mockBackend({ graphs });
      const session = new Session(backend);
      const lm = await CausalLM.fromPretrained(`${models}dense-gau-retnet-tiny`);
      lm.bind(session);
      const decoder = await lm.startDecoding(session, [[5, 6], [7, 8]]);
      const out: number[] = [];
      let next = await decoder.step([1, 2], { temperature: 0.9, uniforms: Float32Array.of(0.3, 0.6) });
      for (let t = 0; t < 8; t++) {
        out.push(...next);
        next = await decoder.step([...next], { temperature: 0.9, uniforms: Float32Array.of((t * 0.37) % 1, (t * 0.61) % 1) });
      }
      return { out, replays: backend.runtime.graphs?.stats.replays ?? 0 };
    };
    const [withGraphs, without] = [await decode(true), await decode(false)];
    expect(withGraphs.out).toEqual(without.out);
    expect(withGraphs.replays).toBeGreaterThan(0);
  });
});

describe("reasons", () => {
  it("a driver older than CUDA 11.8 is refused, naming both versions", async () => {
    await expect(CudaBackend.create({ driver: new MockDriver({ driverVersion: 11040 }) })).rejects.toThrow(
      "cuda: the NVIDIA driver is too old (mock driver (kernels run in the @densessm/gpu interpreter), CUDA 11.4): the shipped kernels' PTX needs CUDA 11.8 (driver 520.61.05) or newer",
    );
  });

  it("a kernel neither shipped nor compilable names itself and what to install", async () => {
    const { backend } = await mockBackend({ compiler: null });
    const session = new Session(backend);
    const graph = trace((v) => ({ y: v.x!.exp() }), { inputs: { x: { shape: [3] } } });
    await expect(session.run(graph, { x: Tensor.float32([1, 2, 3], [3]) })).rejects.toThrow(
      /cuda: node %\d+ \(exp\): kernel "elementwise" failed to compile: it is not in the shipped PTX set \(this package was built without its PTX set\) and needs compiling, but run-time compilation is off \(compiler: null\)\. Install NVRTC/,
    );
  });

  it("a shipped set is not used on a driver or GPU older than it targets", () => {
    const set: ShippedPtx = { format: "densessm-ptx", version: 1, compiler: "NVRTC 11.8", isa: "7.8", target: "sm_80", minimumDriver: 11080, covers: [], kernels: {} };
    const loader = (driverVersion: number, capability: number) => new KernelLoader(new MockDriver(), { shipped: set, compiler: async () => new MockCompiler(), capability, driverVersion });
    expect(loader(11070, 90).shippedUnusable).toBe("the driver (CUDA 11.7) is older than the shipped PTX needs (CUDA 11.8)");
    expect(loader(12020, 75).shippedUnusable).toBe("the shipped PTX targets sm_80; this GPU is sm_75");
    expect(loader(12020, 90).shippedUnusable).toBeUndefined();
  });
});
