import type { InferenceSession, Tensor as OrtTensor } from "onnxruntime-common";

/**
 * The part of an onnxruntime JS package this backend uses. onnxruntime-node and onnxruntime-web
 * both export it (from onnxruntime-common), so one backend runs on either.
 */
export interface OrtRuntime {
  readonly InferenceSession: { create(model: Uint8Array, options?: InferenceSession.SessionOptions): Promise<InferenceSession> };
  readonly Tensor: new (type: OrtTensor.Type, data: OrtTensor.DataType, dims?: readonly number[]) => OrtTensor;
  /** Execution providers to ask for, best first. */
  readonly executionProviders: readonly string[];
  /** What the backend reports as its runtime (e.g. "onnxruntime-node 1.30.0"). */
  readonly label: string;
}

/** onnxruntime-node: the native CPU build that ships inside the npm package. */
export async function loadNodeRuntime(): Promise<OrtRuntime> {
  const ort = await import("onnxruntime-node");
  return { InferenceSession: ort.InferenceSession, Tensor: ort.Tensor, executionProviders: ["cpu"], label: `onnxruntime-node ${ort.env.versions.node ?? ""}`.trim() };
}

/**
 * onnxruntime-web's WebAssembly build (what browsers run, without WebGPU). Under Node it loads
 * its .wasm from the package, so it needs no network.
 */
export async function loadWebRuntime(options: { threads?: number } = {}): Promise<OrtRuntime> {
  const ort = await import("onnxruntime-web");
  ort.env.wasm.numThreads = options.threads ?? 1;
  ort.env.logLevel = "fatal";
  return { InferenceSession: ort.InferenceSession, Tensor: ort.Tensor, executionProviders: ["wasm"], label: `onnxruntime-web ${ort.env.versions.web ?? ""}`.trim() };
}

/**
 * Whether onnxruntime-node's native binding loads on this machine. In a browser bundle the package
 * maps onnxruntime-node to an empty module (package.json "browser"), which is not a runtime.
 */
export async function nodeRuntimeAvailable(): Promise<boolean> {
  try {
    const ort = await import("onnxruntime-node");
    return typeof ort.InferenceSession?.create === "function";
  } catch {
    return false;
  }
}
