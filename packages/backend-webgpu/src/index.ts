/// <reference types="@webgpu/types" />
// The WebGPU API types (GPUDevice, GPUBuffer, ...) for this package and every program importing it.
import { registerBackend } from "@densessm/core";
import { WebGpuBackend } from "./backend.js";
import { hasAdapter, hasHardwareAdapter } from "./device.js";

export { WebGpuBackend, type WebGpuBackendOptions } from "./backend.js";
export { WebGpuRuntime } from "./runtime.js";
export { acquireDevice, gpuEntry, hasAdapter, hasHardwareAdapter, hasVulkanLoader, requestAdapter, SWIFTSHADER_ICD, type AcquiredDevice } from "./device.js";

/**
 * Importing this package registers the "webgpu" backend. Priority 10 outranks the CPU backends when
 * the caller names no backend, but only on a real GPU: a software adapter (SwiftShader) runs it when
 * asked for by name, and is never picked automatically. Without any adapter, naming "webgpu" fails
 * with an error saying what to install. Dawn (the `webgpu` package in Node) is loaded only then:
 * when this backend is created or probed, never at import.
 */
registerBackend({
  name: "webgpu",
  priority: 10,
  isAvailable: hasAdapter,
  preferred: hasHardwareAdapter,
  create: () => WebGpuBackend.create(),
});
