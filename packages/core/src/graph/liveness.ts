import type { Graph, Node } from "./graph.js";

export interface BufferPlan {
  /** For each node: the storage it lives in (a view shares its source's storage). */
  readonly storageOf: readonly number[];
  /** For each node (as an execution step): storages whose last reader ran at that step. */
  readonly releaseAfter: readonly number[][];
}

/**
 * Liveness analysis for buffer reuse. A backend says which nodes are views that alias their first
 * input (on the CPU, reshape is free); a storage can be recycled after the last step that reads any
 * node living in it. Inputs, parameters, constants and outputs are never recycled.
 */
export function planBuffers(graph: Graph, isAlias: (node: Node) => boolean = () => false): BufferPlan {
  const storageOf = graph.nodes.map((n) => n.id);
  for (const n of graph.nodes) if (isAlias(n)) storageOf[n.id] = storageOf[n.inputs[0]!]!;

  const pinned = new Set<number>();
  for (const n of graph.nodes) if (n.op === "input" || n.op === "param" || n.op === "const") pinned.add(storageOf[n.id]!);
  for (const o of graph.outputs) pinned.add(storageOf[o.id]!);

  const lastUse = new Map<number, number>();
  for (const n of graph.nodes) {
    lastUse.set(storageOf[n.id]!, Math.max(lastUse.get(storageOf[n.id]!) ?? n.id, n.id));
    for (const i of n.inputs) lastUse.set(storageOf[i]!, Math.max(lastUse.get(storageOf[i]!) ?? 0, n.id));
  }
  const releaseAfter: number[][] = graph.nodes.map(() => []);
  for (const [storage, step] of lastUse) if (!pinned.has(storage)) releaseAfter[step]!.push(storage);
  return { storageOf, releaseAfter };
}
