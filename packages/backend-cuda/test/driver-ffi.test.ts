// The real FFI layer against Debian's libcuda.so.1 (libcuda1 535, unpacked by .ci/cuda-libraries)
// on a machine with no GPU: every driver symbol binds, the driver reports its version, cuInit
// reports no device, and the backend says it is unavailable, with that reason, without crashing.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import "@densessm/backend-cpu";
import { BackendError, getBackend } from "@densessm/core";
import { describe, expect, it } from "vitest";
import { CudaBackend, CudaError, DRIVER_SYMBOLS, driverStatus, loadDriver, type FfiDriver } from "../src/index.js";

const LIBCUDA = fileURLToPath(new URL("../../../.cache/libcuda/root/usr/lib/x86_64-linux-gnu/nvidia/current/libcuda.so.1", import.meta.url));
const present = existsSync(LIBCUDA);
if (!present) {
  const problem = "CUDA FFI TEST NOT RUN: Debian's libcuda.so.1 is not unpacked (run `bash .ci/cuda-libraries`)";
  if (process.env.CI) throw new Error(problem);
  console.warn(`\n!!! ${problem} !!!\n`);
}

describe("no driver library", () => {
  it("is a reason naming where it looked, not an exception", async () => {
    const load = await loadDriver({ DENSESSM_LIBCUDA: "/nonexistent/libcuda.so.1" });
    expect("reason" in load && load.reason).toBe("no NVIDIA driver library (libcuda.so.1) in DENSESSM_LIBCUDA=/nonexistent/libcuda.so.1: install the NVIDIA driver");
  });

  it("a library that is not the driver is refused by the first symbol it lacks", async () => {
    const load = await loadDriver({ DENSESSM_LIBCUDA: "libc.so.6" });
    expect("reason" in load && load.reason).toMatch(/^libc\.so\.6 has no cuGetErrorName: the NVIDIA driver is older than CUDA 11\.4/);
  });
});

describe.skipIf(!present)("Debian's libcuda1 with no GPU", async () => {
  process.env.DENSESSM_LIBCUDA = LIBCUDA; // before the registry's first probe
  const load = await loadDriver({ DENSESSM_LIBCUDA: LIBCUDA });
  const driver = (load as { driver: FfiDriver }).driver;

  it(`binds every one of the ${Object.keys(DRIVER_SYMBOLS).length} driver symbols`, () => {
    expect(load).toHaveProperty("driver");
    expect(driver.description).toBe(`libcuda.so.1 at ${LIBCUDA}`);
  });

  it("reports the driver's CUDA version (12.2, R535) before initialising", () => {
    expect(driver.driverVersion()).toBe(12020);
  });

  it("names errors with the driver's own names and descriptions", () => {
    expect(driver.describe(700)).toEqual({ name: "CUDA_ERROR_ILLEGAL_ADDRESS", text: "an illegal memory access was encountered" });
    expect(driver.describe(222).name).toBe("CUDA_ERROR_UNSUPPORTED_PTX_VERSION");
  });

  it("cuInit reports CUDA_ERROR_NO_DEVICE (100)", () => {
    const error = (() => {
      try {
        driver.init();
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(CudaError);
    expect((error as CudaError).code).toBe(100);
    expect((error as CudaError).message).toBe("cuda: cuInit failed: CUDA_ERROR_NO_DEVICE (no CUDA-capable device is detected)");
  });

  it("calls after a failed cuInit fail with an error, not a crash", () => {
    expect(() => driver.memAlloc(256)).toThrow(/cuMemAlloc failed: CUDA_ERROR_NOT_INITIALIZED/);
    expect(() => driver.deviceCount()).toThrow(CudaError);
  });

  it("the backend is unavailable, saying why", async () => {
    const status = driverStatus(driver);
    expect(status).toEqual({ available: false, reason: `no CUDA device: cuInit failed: CUDA_ERROR_NO_DEVICE (no CUDA-capable device is detected) (libcuda.so.1 at ${LIBCUDA}, CUDA 12.2)` });
    await expect(CudaBackend.create({ driver })).rejects.toThrow(BackendError);
    await expect(CudaBackend.create()).rejects.toThrow(/^cuda: no CUDA device: cuInit failed: CUDA_ERROR_NO_DEVICE/);
  });

  it("naming it gets that reason; automatic selection passes it over", async () => {
    await expect(getBackend("cuda")).rejects.toThrow(`backend "cuda" is registered but not available on this machine: no CUDA device: cuInit failed: CUDA_ERROR_NO_DEVICE (no CUDA-capable device is detected) (libcuda.so.1 at ${LIBCUDA}, CUDA 12.2)`);
    expect((await getBackend()).name).not.toBe("cuda");
  });
});
