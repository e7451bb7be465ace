// @densessm/gpu: GPU kernels written once in a small kernel language embedded in TypeScript,
// emitted as WGSL and CUDA C++ and run by a CPU interpreter, and one GPU executor parameterised
// by a small runtime interface that backend-webgpu, backend-cuda and the interpreter implement.
import { registerBackend } from "@densessm/core";
import { InterpreterBackend } from "./runtimes/interpreter.js";

// The kernel language
export type { Access, AtomicOp, Builtin, Elem, Expr, Intrinsic, KernelIR, ParamDecl, Scalar, SharedDecl, StorageDecl, Stmt } from "./lang/ir.js";
export { KernelError } from "./lang/errors.js";
export { bool, call, exp, f32, floor, fma, i32, inverseSqrt, lit, log, max, min, packHalf2, round, select, sqrt, tanh, u32, unpackHalf, Val, type Index, type Numeric, type Operand } from "./lang/values.js";
export { KernelBuilder, Memory, Var } from "./lang/builder.js";
export { allPrograms, defineKernel, definedKernels, KernelProgram, programByEntry, specKey, type KernelDef, type SpecValue } from "./lang/kernel.js";
export { checkBindings } from "./lang/bindings.js";
export {
  broadcastStrides,
  elementIndex,
  groupIndex,
  guard,
  maxOf,
  MAX_GROUPS,
  offsetOf,
  roundToBFloat16,
  roundToHalf,
  rowReduce,
  sinCos,
  sumOf,
  treeReduce,
  type Combine,
} from "./lang/std.js";

// Emitters and the interpreter
export { emitWgsl } from "./emit/wgsl.js";
export { emitCuda } from "./emit/cuda.js";
export { storageView, type InterpretedKernel, type StorageView } from "./interpret/compile.js";

// Kernels for graph ops
export { KERNELS, SUPPORTED_OPS } from "./kernels/index.js";
export { elementGrid, grid } from "./kernels/grid.js";
export { FUSED_ELEMENTWISE, fuseElementwise } from "./kernels/fused.js";
export type { Dispatch, KernelContext, KernelFactory, KernelPlan } from "./kernels/types.js";

// The executor and its runtimes
export type { GpuRuntime, RuntimeLimits } from "./executor/runtime.js";
export { GpuBackend, type DispatchStats, type GpuBackendOptions } from "./executor/backend.js";
export type { GpuExecutable } from "./executor/executable.js";
export { deviceBytes, GpuTensor, hostWords } from "./executor/tensor.js";
export { interpret, InterpreterBackend, InterpreterRuntime, type HostBuffer, type InterpreterOptions } from "./runtimes/interpreter.js";

/**
 * Importing this package registers "gpu-interpreter": the GPU executor and every GPU kernel run by
 * the interpreter on the CPU, with debug checks. It is for tests and kernel debugging, so it has
 * the lowest priority and automatic selection never picks it; name it to use it
 * (`Session.create("gpu-interpreter")`, `--backend gpu-interpreter`).
 */
registerBackend({
  name: "gpu-interpreter",
  priority: -10,
  preferred: () => false,
  create: () => new InterpreterBackend(),
});
