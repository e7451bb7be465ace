import { DEVICE_ATTRIBUTE, type CudaDriver } from "./driver/api.js";
import { CudaError } from "./driver/errors.js";
import { loadDriver } from "./driver/ffi.js";
import { cudaVersion } from "./nvrtc/nvrtc.js";
import { MIN_LINUX_DRIVER } from "./kernels/ptx.js";

/**
 * The oldest driver this backend runs on: CUDA 11.8 (R520), the PTX ISA (7.8) of the shipped
 * kernels. Every CUDA 12 and 13 driver JIT-compiles it.
 */
export const MIN_DRIVER_VERSION = 11080;

export interface CudaDevice {
  readonly ordinal: number;
  readonly name: string;
  /** Compute capability as 10 · major + minor (90 for an H100). */
  readonly capability: number;
  readonly memoryBytes: number;
}

/** Whether this machine can run the CUDA backend, and if not, why, in one line. */
export type CudaStatus =
  | { readonly available: true; readonly driver: string; readonly driverVersion: number; readonly devices: readonly CudaDevice[] }
  | { readonly available: false; readonly reason: string };

/** The devices a driver sees, after cuInit; throws a CudaError when initialisation fails. */
export function listDevices(driver: CudaDriver): CudaDevice[] {
  driver.init();
  const devices: CudaDevice[] = [];
  for (let ordinal = 0; ordinal < driver.deviceCount(); ordinal++) {
    const d = driver.device(ordinal);
    const major = driver.deviceAttribute(DEVICE_ATTRIBUTE.computeCapabilityMajor, d);
    const minor = driver.deviceAttribute(DEVICE_ATTRIBUTE.computeCapabilityMinor, d);
    devices.push({ ordinal, name: driver.deviceName(d), capability: major * 10 + minor, memoryBytes: driver.deviceTotalMemory(d) });
  }
  return devices;
}

/** Checks a driver: new enough, initialises, has a device. */
export function driverStatus(driver: CudaDriver): CudaStatus {
  const version = driver.driverVersion();
  const where = `${driver.description}, CUDA ${cudaVersion(version)}`;
  if (version < MIN_DRIVER_VERSION) {
    return { available: false, reason: `the NVIDIA driver is too old (${where}): the shipped kernels' PTX needs CUDA ${cudaVersion(MIN_DRIVER_VERSION)} (driver ${MIN_LINUX_DRIVER[MIN_DRIVER_VERSION]}) or newer` };
  }
  let devices: CudaDevice[];
  try {
    devices = listDevices(driver);
  } catch (e) {
    if (!(e instanceof CudaError)) throw e;
    const what = e.code === 100 ? "no CUDA device" : "the driver did not initialise";
    return { available: false, reason: `${what}: ${e.message.replace(/^cuda: /, "")} (${where})` };
  }
  if (devices.length === 0) return { available: false, reason: `no CUDA device (${where})` };
  return { available: true, driver: driver.description, driverVersion: version, devices };
}

let status: Promise<CudaStatus> | undefined;

/**
 * Whether libcuda.so.1 loads, is new enough, initialises and has a device: asked once per process
 * (koffi and the driver are loaded only now, never at import).
 */
export function cudaStatus(): Promise<CudaStatus> {
  status ??= loadDriver().then((load) => ("reason" in load ? { available: false, reason: load.reason } : driverStatus(load.driver)));
  return status;
}
