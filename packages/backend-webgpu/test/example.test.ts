// The worked example of docs/writing-kernels.md on WebGPU, through the same runtime interface the
// executor uses: the kernels are the ones the gpu package's tests run on the interpreter.
import { describe, expect, it } from "vitest";
import { rowSumSquares, siluMulAdd } from "../../gpu/examples/kernels.js";
import { WebGpuRuntime } from "../src/index.js";
import { gpuBackend } from "./helpers.js";

const runtime = new WebGpuRuntime(gpuBackend.device, gpuBackend.software);

/** Uploads `data` into a new device buffer. */
function upload(data: Float32Array): GPUBuffer {
  const buffer = runtime.alloc(data.byteLength);
  runtime.write(buffer, data);
  return buffer;
}

async function download(buffer: GPUBuffer, length: number): Promise<Float32Array> {
  return new Float32Array(await runtime.read(runtime.stage(buffer, length * 4)));
}

describe(`the worked example on WebGPU (${gpuBackend.adapterInfo})`, () => {
  const n = 1000;
  const a = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 4);

  it("fused elementwise: silu(a) * b + c", async () => {
    const b = Float32Array.from({ length: n }, (_, i) => Math.cos(i));
    const c = Float32Array.from({ length: n }, (_, i) => i / n);
    const y = runtime.alloc(n * 4);
    const kernel = await runtime.compile(siluMulAdd.specialize({ n }));
    runtime.dispatch(runtime.bind(kernel, [upload(a), upload(b), upload(c), y], undefined), [Math.ceil(n / 64), 1, 1]);
    await runtime.submit();
    const got = await download(y, n);
    for (let i = 0; i < n; i++) expect(got[i]).toBeCloseTo((a[i]! / (1 + Math.exp(-a[i]!))) * b[i]! + c[i]!, 5);
  });

  it("workgroup reduction: the sum of squares of each row", async () => {
    const [rows, cols] = [3, 333];
    const y = runtime.alloc(rows * 4);
    const kernel = await runtime.compile(rowSumSquares.specialize({ group: 64 }));
    runtime.dispatch(runtime.bind(kernel, [upload(a.slice(0, rows * cols)), y], Uint32Array.of(cols)), [rows, 1, 1]);
    await runtime.submit();
    const got = await download(y, rows);
    for (let r = 0; r < rows; r++) expect(got[r]! / a.subarray(r * cols, (r + 1) * cols).reduce((s, v) => s + v * v, 0)).toBeCloseTo(1, 5);
  });
});
