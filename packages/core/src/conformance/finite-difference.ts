import type { Graph } from "../graph/graph.js";
import type { Parameter } from "../nn/parameter.js";
import type { Feed, Session } from "../runtime/session.js";

/**
 * Central finite difference of a graph's scalar output with respect to one element of a bound
 * parameter: (f(p + eps) - f(p - eps)) / 2 eps. The element is restored afterwards. This is the
 * check behind every model package's end-to-end gradient tests, exported so third-party models can
 * compare their gradients the same way.
 */
export async function parameterFiniteDifference(
  session: Session,
  graph: Graph,
  feeds: Readonly<Record<string, Feed>>,
  parameter: Parameter,
  index: number,
  eps: number,
  output = "loss",
): Promise<number> {
  const data = parameter.value.data as Float32Array;
  const original = data[index]!;
  const at = async (value: number) => {
    data[index] = value;
    parameter.markUpdated();
    return (await session.run(graph, feeds))[output]!.item();
  };
  try {
    return ((await at(original + eps)) - (await at(original - eps))) / (2 * eps);
  } finally {
    data[index] = original;
    parameter.markUpdated();
  }
}
