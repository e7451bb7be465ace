// @densessm/backend-cuda: the GPU executor of @densessm/gpu on NVIDIA GPUs through the CUDA driver
// API (libcuda.so.1, called through koffi), with the kernels' PTX shipped and NVRTC for new
// specializations, a caching allocator and CUDA graphs for repeated work.
import { registerBackend } from "@densessm/core";
import { CudaBackend } from "./backend.js";
import { cudaStatus } from "./probe.js";

export { CudaBackend, type CudaBackendOptions } from "./backend.js";
export { cudaStatus, driverStatus, listDevices, MIN_DRIVER_VERSION, type CudaDevice, type CudaStatus } from "./probe.js";
export { CudaRuntime, type CudaBinding, type CudaKernel, type CudaRuntimeOptions, type CudaRuntimeStats, type CudaStaged } from "./runtime/runtime.js";
export { CachingAllocator, sizeClass, type AllocatorStats, type DeviceBuffer } from "./runtime/allocator.js";
export { GraphCache, type GraphStats } from "./runtime/graphs.js";
export { KernelLoader, type LoadedKernel } from "./kernels/loader.js";
export { cudaForIsa, MIN_LINUX_DRIVER, ptxIsa, shippedPtx, SHIPPED_PTX_FILE, type ShippedPtx } from "./kernels/ptx.js";
export { builtinsBeside, nvrtcCandidates, sitePackages } from "./nvrtc/find.js";
export { cudaVersion, findNvrtc, Nvrtc, type CompiledImage, type KernelCompiler, type NvrtcSearch } from "./nvrtc/nvrtc.js";
export { DRIVER_SYMBOLS, FfiDriver, LIBCUDA_DIRS, loadDriver, type DriverLoad } from "./driver/ffi.js";
export { MockCompiler, MockDriver, moduleEntries, type MockDriverOptions } from "./driver/mock.js";
export { CUDA, CudaError } from "./driver/errors.js";
export { DEVICE_ATTRIBUTE, type CudaDriver, type DevicePointer, type Dim3, type HostPointer, type KernelArgs } from "./driver/api.js";

/**
 * Importing this package registers the "cuda" backend. Priority 20 outranks webgpu (10), onnx and
 * cpu when the caller names no backend and this machine has a GPU. Without a usable driver or
 * device it is unavailable, and naming it fails with the reason (no libcuda.so.1, no device, a
 * driver too old). koffi and libcuda are loaded only when the backend is probed or created.
 */
registerBackend({
  name: "cuda",
  priority: 20,
  isAvailable: async () => (await cudaStatus()).available,
  unavailableReason: async () => {
    const s = await cudaStatus();
    return s.available ? undefined : s.reason;
  },
  // Mixed precision (dtype "bf16"): matrix products on the tensor cores with bfloat16 inputs.
  create: (options) => CudaBackend.create(options.dtype === "bf16" ? { matmul: "bf16" } : {}),
});
