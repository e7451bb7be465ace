// NVRTC: where it is looked for and in which order, its builtins loaded from its own folder, and
// Debian's NVRTC 11.8 (unpacked by .ci/cuda-libraries) compiling a kernel to PTX and to a cubin
// that the kernel loader loads and the mock driver runs.
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { defineKernel } from "@densessm/gpu";
import { describe, expect, it } from "vitest";
import { builtinsBeside, findNvrtc, KernelLoader, MockDriver, moduleEntries, nvrtcCandidates, ptxIsa, type Nvrtc } from "../src/index.js";

const NVRTC = fileURLToPath(new URL("../../../.cache/nvrtc/root/usr/lib/x86_64-linux-gnu/libnvrtc.so.11.2", import.meta.url));
const present = existsSync(NVRTC);
if (!present) {
  const problem = "NVRTC TESTS NOT RUN: Debian's NVRTC 11.8 is not unpacked (run `bash .ci/cuda-libraries`)";
  if (process.env.CI) throw new Error(problem);
  console.warn(`\n!!! ${problem} !!!\n`);
}

// Asked before anything in this process loads an NVRTC (a loaded one is then found by name).
const none = await findNvrtc(12020, { DENSESSM_NVRTC: "/nonexistent/libnvrtc.so.12", PYTHONPATH: "" });
if ("compiler" in none) console.warn(`\n!!! NO-NVRTC MESSAGE NOT CHECKED: this machine has an NVRTC (${none.compiler.description}) !!!\n`);

const touch = (path: string) => {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, "");
};

describe("NVRTC discovery", () => {
  it("tries DENSESSM_NVRTC, then libnvrtc.so.13/.12/.11.2 by name, then the toolkit, then Python's nvidia wheels", () => {
    const venv = mkdtempSync(join(tmpdir(), "densessm-venv-"));
    const site = join(venv, "lib/python3.12/site-packages");
    touch(join(site, "nvidia/cuda_nvrtc/lib/libnvrtc.so.12"));
    touch(join(site, "nvidia/cuda_nvrtc/lib/libnvrtc-builtins.so.12.4"));
    touch(join(site, "nvidia/cu13/lib/libnvrtc.so.13"));
    const candidates = nvrtcCandidates({ DENSESSM_NVRTC: "/opt/mine/libnvrtc.so.12", VIRTUAL_ENV: venv }, venv);
    expect(candidates.slice(0, 4)).toEqual(["/opt/mine/libnvrtc.so.12", "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2"]);
    const wheels = candidates.filter((c) => c.startsWith(venv));
    expect(wheels).toEqual([join(site, "nvidia/cuda_nvrtc/lib/libnvrtc.so.12"), join(site, "nvidia/cu13/lib/libnvrtc.so.13")]);
    expect(candidates.indexOf(wheels[0]!)).toBe(candidates.length - 2); // after /usr/local/cuda/lib64's, if any
    expect(builtinsBeside(wheels[0]!)).toBe(join(site, "nvidia/cuda_nvrtc/lib/libnvrtc-builtins.so.12.4"));
    expect(builtinsBeside("libnvrtc.so.12")).toBeUndefined(); // by name: the linker finds its builtins too
  });

  it.skipIf("compiler" in none)("says where it looked when there is none", () => {
    expect((none as { reason: string }).reason).toMatch(/^no usable NVRTC \(looked in DENSESSM_NVRTC, libnvrtc\.so\.13\/\.12\/\.11\.2, \/usr\/local\/cuda\/lib64 and Python's nvidia\/cuda_nvrtc\)/);
  });
});

const scaleKernel = defineKernel("test.nvrtcScale", (k, spec: { n: number }) => {
  const x = k.input("x", "f32");
  const y = k.output("y", "f32");
  const i = k.let("i", k.globalId.x);
  k.if(i.ge(spec.n), () => k.return());
  y.set(i, x.at(i).mul(3).add(0.5));
});

describe.skipIf(!present)("Debian's NVRTC 11.8", async () => {
  const found = await findNvrtc(12020, { DENSESSM_NVRTC: NVRTC });
  const nvrtc = (found as { compiler: Nvrtc }).compiler;

  it("loads (its builtins first, from its own folder) and knows sm_80 and sm_90", () => {
    expect(nvrtc.description).toBe(`NVRTC 11.8 at ${NVRTC}`);
    expect(nvrtc.version).toBe(11080);
    expect(nvrtc.architectures).toEqual(expect.arrayContaining([80, 86, 89, 90]));
  });

  it("is refused for a driver of an older CUDA major version", async () => {
    const old = await findNvrtc(10020, { DENSESSM_NVRTC: NVRTC });
    expect("reason" in old && old.reason).toMatch(/refused: NVRTC 11\.8 at .*: newer than the driver \(CUDA 10\.2\)/);
  });

  it("compiles a kernel to PTX (ISA 7.8) and to an sm_90 cubin, and names a broken one's error", () => {
    const program = scaleKernel.specialize({ n: 5 });
    const ptx = nvrtc.compile(program.cuda, 80, "ptx");
    const text = new TextDecoder().decode(ptx.image);
    expect(ptxIsa(text)).toBe("7.8");
    expect([...moduleEntries(ptx.image)]).toEqual([program.entry]);
    const cubin = nvrtc.compile(program.cuda, 90, "cubin");
    expect(new TextDecoder("latin1").decode(cubin.image.subarray(0, 4))).toBe("\x7fELF");
    expect([...moduleEntries(cubin.image)]).toEqual([program.entry]);
    expect(() => nvrtc.compile('extern "C" __global__ void broken(float* y) { y[0] = nope; }', 80, "ptx")).toThrow(/could not compile for compute_80: NVRTC_ERROR_COMPILATION\n.*identifier "nope" is undefined/s);
  });

  it("its cubin, loaded by the kernel loader for an sm_90 GPU, runs (on the mock driver)", async () => {
    const driver = new MockDriver();
    driver.init();
    const loader = new KernelLoader(driver, { shipped: undefined, compiler: async () => nvrtc, capability: 90, driverVersion: 12020 });
    const program = scaleKernel.specialize({ n: 5 });
    const kernel = await loader.load(program);
    expect(kernel.origin).toBe("compiled");
    const [x, y] = [driver.memAlloc(20), driver.memAlloc(20)];
    const stream = driver.streamCreate();
    driver.memcpyHtoDAsync(x, Float32Array.of(0, 1, 2, 3, 4), 20, stream);
    const slots = new Uint8Array(16);
    new DataView(slots.buffer).setBigUint64(0, x, true);
    new DataView(slots.buffer).setBigUint64(8, y, true);
    driver.launchKernel(kernel.fn, [1, 1, 1], program.workgroupSize, 0, stream, driver.kernelArgs(slots, 2));
    const host = driver.memAllocHost(20);
    driver.memcpyDtoHAsync(host, y, 20, stream);
    expect([...new Float32Array(driver.hostView(host, 20))]).toEqual([0.5, 3.5, 6.5, 9.5, 12.5]);
  });
});
