import { BackendError, CausalLM, getBackend, listBackends, Tensor, trace, type Session } from "@densessm/core";
import "@densessm/mamba"; // registers the family of the fixture
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { WebGpuBackend } from "../src/index.js";
import { cpu, gpu, gpuBackend } from "./helpers.js";

/** Counts queue submissions and buffer mappings (readbacks) while `body` runs. */
async function counting<T>(backend: WebGpuBackend, body: () => Promise<T>): Promise<{ submits: number; maps: number; result: T }> {
  const queue = backend.device.queue;
  const submit = queue.submit.bind(queue);
  let submits = 0;
  let maps = 0;
  queue.submit = (buffers) => {
    submits++;
    submit(buffers);
  };
  const proto = Object.getPrototypeOf(backend.device.createBuffer({ size: 4, usage: 0x08 })) as GPUBuffer;
  const mapAsync = proto.mapAsync;
  proto.mapAsync = function (this: GPUBuffer, ...args: Parameters<GPUBuffer["mapAsync"]>) {
    maps++;
    return mapAsync.apply(this, args);
  };
  try {
    const result = await body();
    return { submits, maps, result };
  } finally {
    queue.submit = submit;
    proto.mapAsync = mapAsync;
  }
}

describe("the webgpu backend", () => {
  it('registers as "webgpu" above cpu and is available here', async () => {
    const entry = listBackends().find((b) => b.name === "webgpu");
    expect(entry?.priority).toBeGreaterThan(0);
    expect((await getBackend("webgpu")).name).toBe("webgpu");
  });

  it("round-trips every dtype through upload and download", async () => {
    for (const t of [Tensor.float32([1.5, -2, 3e-8]), Tensor.int32([7, -9, 2 ** 30]), Tensor.float32([0.1, 65504]).to("float16"), Tensor.float32([0.1, 3e38]).to("bfloat16")]) {
      const d = gpuBackend.upload(t);
      const back = await gpuBackend.download(d);
      gpuBackend.release(d);
      expect(back.dtype).toBe(t.dtype);
      expect(Array.from(back.data)).toEqual(Array.from(t.data));
    }
  });

  it("rejects a released tensor and recycles its buffer", async () => {
    const before = gpuBackend.memory().liveBytes;
    const d = gpuBackend.upload(Tensor.float32([1, 2, 3]));
    gpuBackend.release(d);
    const again = gpuBackend.upload(Tensor.float32([4, 5, 6]));
    expect(gpuBackend.memory().liveBytes).toBeLessThanOrEqual(before + 16);
    await expect(gpuBackend.download(d)).rejects.toThrow(BackendError);
    gpuBackend.release(again);
  });

  it("runs a graph with one submit and reads back nothing until asked", async () => {
    const g = trace((x) => ({ y: x.a!.matmul(x.a!.transpose()).softmax(-1).mul(2), z: x.a!.sum() }), { inputs: { a: { shape: [3, 5] } } });
    await gpu.runOnDevice(g, { a: Tensor.zeros([3, 5]) }); // compile outside the count
    const { submits, maps, result } = await counting(gpuBackend, () => gpu.runOnDevice(g, { a: Tensor.float32(Array.from({ length: 15 }, (_, i) => i / 10), [3, 5]) }));
    expect(submits).toBe(1);
    expect(maps).toBe(0);
    const z = await gpuBackend.download(result.get("z")!);
    expect(z.item()).toBeCloseTo(10.5, 4);
    for (const t of result.values()) gpuBackend.release(t);
  });

  it("decodes with the state and the draw on the device: one submit and one map of the ids per token", async () => {
    const model = await CausalLM.fromPretrained(fileURLToPath(new URL("../../../models/mamba-tiny", import.meta.url)));
    const draw = { temperature: 0.8, topK: 20, uniforms: Float32Array.from([0.3, 0.9]) };
    const decode = async (session: Session) => {
      const decoder = await model.startDecoding(session, [[1], [2]]);
      const first = await decoder.sample(draw);
      const second = await decoder.step([...first], draw);
      return { decoder, ids: [...first, ...second] };
    };
    const onCpu = await decode(cpu);
    const onGpu = await decode(gpu);
    expect(onGpu.ids).toEqual(onCpu.ids);
    const { submits, maps } = await counting(gpuBackend, async () => {
      const next = await onGpu.decoder.step([3, 4], draw);
      expect(next).toHaveLength(2);
    });
    expect(submits).toBe(1); // the step, its draw and the staged copy of the two ids
    expect(maps).toBe(1);
    onGpu.decoder.dispose();
    onCpu.decoder.dispose();
  });

  it("fails with a clear error, never a fallback, when there is no adapter", async () => {
    const saved = Object.getOwnPropertyDescriptor(globalThis, "navigator");
    Object.defineProperty(globalThis, "navigator", { value: { gpu: { requestAdapter: async () => null } }, configurable: true });
    try {
      await expect(WebGpuBackend.create()).rejects.toThrow(/no WebGPU adapter was found/);
    } finally {
      if (saved) Object.defineProperty(globalThis, "navigator", saved);
      else delete (globalThis as { navigator?: unknown }).navigator;
    }
  });

  it("says which adapter it runs on", () => {
    expect(gpuBackend.adapterInfo.length).toBeGreaterThan(0);
  });
});
