import type { DType } from "../tensor/dtype.js";
import type { Shape } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";

/** Op attributes are plain data (so graphs serialize), except a constant's value. */
export type AttrValue = number | string | boolean | null | readonly number[] | Tensor;
export type Attrs = Readonly<Record<string, AttrValue>>;

/**
 * One node of the graph IR. Node ids are their index in `Graph.nodes`, and every node's inputs
 * come before it, so the node list is already a valid execution order.
 */
export interface Node {
  readonly id: number;
  readonly op: string;
  readonly inputs: readonly number[];
  readonly attrs: Attrs;
  readonly shape: Shape;
  readonly dtype: DType;
}

/** A named graph input, parameter or output, pointing at a node. */
export interface Binding {
  readonly name: string;
  readonly id: number;
}

/**
 * A traced computation: what model code produced when run against symbolic tensors. Inputs are fed
 * per call, parameters are bound once per session (by their state_dict names), outputs are named.
 */
export interface Graph {
  readonly nodes: readonly Node[];
  readonly inputs: readonly Binding[];
  readonly params: readonly Binding[];
  readonly outputs: readonly Binding[];
}

/** Ids of the nodes the outputs depend on. */
export function liveNodes(graph: Graph): Set<number> {
  const live = new Set<number>();
  const stack = graph.outputs.map((o) => o.id);
  while (stack.length) {
    const id = stack.pop()!;
    if (live.has(id)) continue;
    live.add(id);
    stack.push(...graph.nodes[id]!.inputs);
  }
  return live;
}
