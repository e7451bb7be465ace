// `--backend cuda` on a machine without a GPU: bench, train and generate each end in one line
// saying plainly why there is no CUDA backend here (with Debian's libcuda1 unpacked by
// .ci/cuda-libraries: the driver loads and reports no device; without it: no driver library).
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { cli } from "./helpers.js";

const libcuda = fileURLToPath(new URL("../../../.cache/libcuda/root/usr/lib/x86_64-linux-gnu/nvidia/current/libcuda.so.1", import.meta.url));
if (existsSync(libcuda)) process.env.DENSESSM_LIBCUDA = libcuda;
const reason = existsSync(libcuda)
  ? /^densessm: backend "cuda" is registered but not available on this machine: no CUDA device: cuInit failed: CUDA_ERROR_NO_DEVICE \(no CUDA-capable device is detected\) \(libcuda\.so\.1 at .*, CUDA 12\.2\)$/
  : /^densessm: backend "cuda" is registered but not available on this machine: no NVIDIA driver library \(libcuda\.so\.1\) in .*: install the NVIDIA driver$/;
const model = fileURLToPath(new URL("../../../models/dense-gau-retnet-tiny", import.meta.url));

describe("--backend cuda without a GPU", () => {
  for (const [command, args] of [
    ["bench", ["bench", "--model", "dense-retnet-tiny", "--backend", "cuda"]],
    ["train", ["train", "--model", "dense-retnet-tiny", "--out", "/nonexistent/never-written", "--backend", "cuda"]],
    ["generate", ["generate", "--model", model, "--prompt", "x", "--backend", "cuda"]],
    ["train --dtype bf16", ["train", "--model", "dense-retnet-tiny", "--out", "/nonexistent/never-written", "--backend", "cuda", "--dtype", "bf16"]],
  ] as const) {
    it(`${command} says why in one line`, async () => {
      const r = await cli(...args);
      expect(r.code).toBe(1);
      expect(r.err.trim().split("\n")).toHaveLength(1);
      expect(r.err.trim()).toMatch(reason);
    });
  }
});

describe("--dtype bf16 on a backend without bfloat16 products", () => {
  it("is refused in one line naming the backend", async () => {
    const r = await cli("bench", "--model", "dense-retnet-tiny", "--backend", "cpu", "--dtype", "bf16");
    expect(r.code).toBe(1);
    expect(r.err.trim()).toBe(`densessm: backend "cpu" computes in f32 only; bf16 compute needs a backend with bf16 matrix products (cuda's tensor cores)`);
  });
});
