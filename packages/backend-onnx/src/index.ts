import { registerBackend } from "@densessm/core";
import { OnnxBackend } from "./backend.js";
import { loadNodeRuntime, nodeRuntimeAvailable } from "./runtime.js";

export { OnnxBackend, OnnxTensor, type OnnxBackendOptions } from "./backend.js";
export { LOWERED_OPS, lowerGraph, OPSET, type LoweredModel, type LowerOptions } from "./lower/graph.js";
export { SCAN_CHUNK } from "./lower/scan.js";
export { decodeModel, encodeModel, type ModelDef } from "./onnx/model.js";
export { loadNodeRuntime, loadWebRuntime, type OrtRuntime } from "./runtime.js";

/**
 * Importing this package registers "onnx": onnxruntime-node on the CPU. Priority 1 puts it above
 * the reference cpu backend (it is much faster there) and below GPU backends.
 */
registerBackend({
  name: "onnx",
  priority: 1,
  isAvailable: nodeRuntimeAvailable,
  create: async (options) => new OnnxBackend(await loadNodeRuntime(), { deterministic: options.deterministic ?? false }),
});
export { exportOnnx, type ExportOptions, type ExportResult, type StateSpec } from "./export.js";
