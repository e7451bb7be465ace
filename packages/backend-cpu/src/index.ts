import { registerBackend } from "@densessm/core";
import { CpuBackend } from "./backend.js";

export { CpuBackend } from "./backend.js";
export { KERNELS, gemm, gemmTransB, naiveGemm, type Allocator, type CompiledKernel, type KernelFactory } from "./kernels/index.js";

/** Importing this package registers the "cpu" backend (priority 0: any GPU backend outranks it). */
registerBackend({ name: "cpu", priority: 0, create: () => new CpuBackend() });
