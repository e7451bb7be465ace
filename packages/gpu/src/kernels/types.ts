import type { Node } from "@densessm/core";
import type { KernelProgram } from "../lang/kernel.js";

/** One kernel launch of a node's plan. */
export interface Dispatch {
  readonly program: KernelProgram;
  readonly groups: readonly [number, number, number];
  /**
   * Which node inputs the program's storage bindings 0..n-1 read (positions in `node.inputs`);
   * the node's output is the binding after them.
   */
  readonly inputs: readonly number[];
  /** Values of the program's parameters, in declaration order. */
  readonly params?: readonly number[];
}

/** What a node compiles to: usually one dispatch; concat issues one per input. */
export interface KernelPlan {
  readonly dispatches: readonly Dispatch[];
}

/** Device facts a kernel may specialise on. */
export interface KernelContext {
  /**
   * How matrix-vector products reduce over K: "workgroup" (64 invocations per output column and a
   * tree in workgroup memory: the GPU-friendly form) or "thread" (one invocation per column, no
   * barriers: far faster on software adapters and in the interpreter).
   */
  readonly matvec: "workgroup" | "thread";
  /** Storage buffers one kernel may bind (WebGPU guarantees 8). */
  readonly maxStorageBuffers: number;
}

/** Builds a node's plan from the node and its input nodes' static types. */
export type KernelFactory = (node: Node, inputs: readonly Node[], ctx: KernelContext) => KernelPlan;

/** The common single-dispatch plan binding every input in order. */
export function single(program: KernelProgram, groups: readonly [number, number, number], inputCount: number, params?: readonly number[]): KernelPlan {
  return { dispatches: [{ program, groups, inputs: [...Array(inputCount).keys()], ...(params ? { params } : {}) }] };
}
