import { DenseSSMError, ShapeError } from "../errors.js";
import { liveNodes, type Graph } from "../graph/graph.js";
import { GraphBuilder, type SymTensor } from "../graph/symbolic.js";
import { prune, replayNode } from "../graph/transform.js";
import { getOp } from "../ops/registry.js";
import { isFloat } from "../tensor/dtype.js";
import { formatShape, sameShape } from "../tensor/shape.js";
import { expand } from "../ops/views.js";

export interface GradientOptions {
  /** The scalar output to differentiate. */
  loss: string;
  /** Parameters to differentiate with respect to (default: every float parameter). */
  params?: readonly string[];
  /** Graph inputs to differentiate with respect to (default: none). */
  inputs?: readonly string[];
}

/** The output name under which `gradients` returns dLoss/d`name`. */
export const gradName = (name: string): string => `grad:${name}`;

/**
 * Reverse-mode autodiff as a graph transformation: returns a graph computing the original outputs
 * plus `grad:<name>` for each requested parameter and input. Each op contributes through its own
 * registered gradient rule; composite ops without a rule are differentiated through their
 * decomposition. The result is an ordinary graph, so any backend runs training.
 */
export function gradients(graph: Graph, options: GradientOptions): Graph {
  const lossBinding = graph.outputs.find((o) => o.name === options.loss);
  if (!lossBinding) throw new DenseSSMError(`gradients: no output named "${options.loss}" (outputs: ${graph.outputs.map((o) => o.name).join(", ")})`);
  const lossNode = graph.nodes[lossBinding.id]!;
  if (lossNode.shape.length !== 0) throw new ShapeError(`gradients: the loss "${options.loss}" must be a scalar, got shape ${formatShape(lossNode.shape)}`);

  const pick = (bindings: Graph["params"], names: readonly string[] | undefined, kind: string) =>
    (names ?? bindings.filter((b) => isFloat(graph.nodes[b.id]!.dtype)).map((b) => b.name)).map((name) => {
      const b = bindings.find((x) => x.name === name);
      if (!b) throw new DenseSSMError(`gradients: no ${kind} named "${name}"`);
      return b;
    });
  const targets = [...pick(graph.params, options.params, "parameter"), ...pick(graph.inputs, options.inputs ?? [], "input")];

  // Only the nodes on a path from a target to the loss are differentiated: a composite without a
  // gradient rule is expanded there (autodiff goes through its decomposition) and stays one node
  // everywhere else, and no gradient is propagated into what does not depend on a target.
  const onPath = pathNodes(graph, lossBinding.id, targets.map((t) => t.id));
  let differentiating = false;
  const builder = new GraphBuilder({ expand: (def) => differentiating && !def.grad });
  const map: SymTensor[] = [];
  for (const node of graph.nodes) {
    differentiating = onPath.has(node.id);
    map[node.id] = replayNode(node, builder, map);
  }
  for (const o of graph.outputs) builder.output(o.name, map[o.id]!);
  const forwardCount = builder.nodes.length;
  const dependsOnTarget = new Set(targets.map((t) => map[t.id]!.id));
  for (const node of builder.nodes) if (node.inputs.some((i) => dependsOnTarget.has(i))) dependsOnTarget.add(node.id);

  const grads = new Map<number, SymTensor>();
  const loss = map[lossBinding.id]!;
  grads.set(loss.id, builder.scalar(1, loss.dtype));

  builder.run(() => {
    for (let id = forwardCount - 1; id >= 0; id--) {
      const g = grads.get(id);
      if (!g) continue;
      const node = builder.nodes[id]!;
      const def = getOp(node.op);
      if (def.kind === "source" || !def.grad) continue; // leaves, and ops with no gradient (comparisons, rand)
      const inputs = node.inputs.map((i) => builder.sym(i));
      const inputGrads = def.grad({ inputs, output: builder.sym(id), grad: g, attrs: node.attrs });
      inputs.forEach((x, i) => {
        const gi = inputGrads[i];
        if (!gi || !isFloat(x.dtype) || !dependsOnTarget.has(x.id)) return;
        if (!sameShape(gi.shape, x.shape)) {
          throw new DenseSSMError(`gradient rule of "${node.op}" returned shape ${formatShape(gi.shape)} for an input of shape ${formatShape(x.shape)}`);
        }
        const prev = grads.get(x.id);
        grads.set(x.id, prev ? prev.add(gi) : gi);
      });
    }
    for (const t of targets) {
      const x = map[t.id]!;
      const g = grads.get(x.id) ?? expand(builder.scalar(0, x.dtype), x.shape); // not on the loss's path
      builder.output(gradName(t.name), g);
    }
  });
  return prune(builder.build());
}

/** Nodes that depend on one of `from` and that `to` depends on (both ends included). */
function pathNodes(graph: Graph, to: number, from: readonly number[]): Set<number> {
  const reachesTo = liveNodes({ ...graph, outputs: [{ name: "", id: to }] });
  const path = new Set<number>();
  const sources = new Set(from);
  for (const node of graph.nodes) {
    if (reachesTo.has(node.id) && (sources.has(node.id) || node.inputs.some((i) => path.has(i)))) path.add(node.id);
  }
  return path;
}
