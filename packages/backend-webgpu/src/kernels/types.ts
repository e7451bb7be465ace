import type { Node } from "@densessm/core";

/** One compute dispatch: WGSL source, workgroup counts, and which node inputs it binds. */
export interface DispatchSpec {
  readonly code: string;
  readonly groups: readonly [number, number, number];
  /** Positions in the node's inputs bound at 0..n-1 (the node's output is bound at n). */
  readonly inputs: readonly number[];
  /**
   * Words of a uniform buffer bound after the output, for kernels whose source is shared across
   * shapes (the tiled matmul: compiling it per shape costs seconds on some drivers).
   */
  readonly params?: Uint32Array;
}

/** What a node compiles to: usually one dispatch; concat issues one per input. */
export interface KernelPlan {
  readonly dispatches: readonly DispatchSpec[];
}

/** Device facts a kernel may specialise on. */
export interface KernelContext {
  /**
   * How matrix-vector products reduce over K: "workgroup" (64 threads per output column, a tree
   * reduction in workgroup memory: the GPU-friendly form) or "thread" (one thread per column, no
   * barriers: far faster on software adapters such as SwiftShader, where barriers are costly).
   */
  readonly matvec: "workgroup" | "thread";
}

/** Builds a node's plan from the node and its input nodes' static types. */
export type KernelFactory = (node: Node, inputs: readonly Node[], ctx: KernelContext) => KernelPlan;

/** Shorthand for the common single-dispatch plan binding every input in order. */
export function single(code: string, groups: readonly [number, number, number], inputCount: number): KernelPlan {
  return { dispatches: [{ code, groups, inputs: [...Array(inputCount).keys()] }] };
}
