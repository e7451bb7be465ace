import type { Graph } from "../graph/graph.js";
import type { DType } from "../tensor/dtype.js";
import type { Shape } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";

/** A tensor that lives on a backend (a GPU buffer, an ORT value, or on the CPU a host Tensor). */
export interface DeviceTensor {
  readonly shape: Shape;
  readonly dtype: DType;
}

export interface Capabilities {
  /**
   * Ops the backend runs natively. It must contain every primitive (see PRIMITIVE_OPS); any
   * composite listed here runs as the backend's fused kernel, every other composite is lowered to
   * its reference decomposition before `compile` sees the graph.
   */
  readonly ops: ReadonlySet<string>;
  /** Dtypes its buffers can hold. float32 and int32 are required. */
  readonly dtypes: readonly DType[];
}

export interface MemoryInfo {
  /** Bytes held in device tensors and pooled buffers right now. */
  readonly liveBytes: number;
  /** The most ever held at once. */
  readonly peakBytes: number;
}

/** A compiled graph. Feeds name every graph input and parameter; results name every output. */
export interface Executable {
  run(feeds: ReadonlyMap<string, DeviceTensor>): Promise<Map<string, DeviceTensor>>;
  dispose(): void;
}

/**
 * The whole contract between DenseSSM.js and a backend. Model packages never see it; they trace
 * graphs, and a `Session` lowers, compiles and runs them on whichever backend was chosen.
 */
export interface Backend {
  readonly name: string;
  readonly capabilities: Capabilities;
  /**
   * The precision its matrix products take their inputs in: "f32" (the default when absent), or
   * "bf16" (inputs rounded to bfloat16, products accumulated in f32: mixed precision, asked for
   * with `BackendOptions.dtype`).
   */
  readonly computeDtype?: "f32" | "bf16";
  /** Compiles a lowered graph (only primitives and the composites in `capabilities.ops`). */
  compile(graph: Graph): Promise<Executable>;
  upload(tensor: Tensor): DeviceTensor;
  download(tensor: DeviceTensor): Promise<Tensor>;
  /** Frees a tensor this backend returned; using it afterwards is an error. */
  release(tensor: DeviceTensor): void;
  memory(): MemoryInfo;
  dispose?(): void;
}
