import { opConformanceCases, Rng, Tensor, type ConformanceCase } from "@densessm/core";
import { denseFusion } from "./dense-fusion.js";

/**
 * The dense fusion op's conformance cases (op, decomposition and finite-difference gradient), to
 * run on a backend beside core's suite. The reference is the definition, element by element in
 * float64: current + Σ_i gate ⊙ shallow_i.
 *
 *     for (const c of [...conformanceSuite(), ...fusionConformance()]) it(c.name, () => c.run(session));
 */
export function fusionConformance(): ConformanceCase[] {
  const rng = new Rng(2025);
  const rand = (shape: number[]) => Tensor.float32(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => 2 * rng.uniform() - 1), shape);
  // [shape, shallow states]; five is more than a backend may bind in one kernel (see backend-webgpu).
  const shapes: [number[], number][] = [[[2, 3, 4], 2], [[5], 1], [[3, 7], 5]];
  return shapes.flatMap(([shape, shallow]) =>
    opConformanceCases({
      name: `fusion.denseFusion of ${shallow} shallow state(s) [${shape.join(", ")}]`,
      op: "fusion.denseFusion",
      inputs: Array.from({ length: shallow + 2 }, () => rand(shape)),
      fn: ([current, gate, ...rest]) => denseFusion(current!, gate!, rest),
      expected: ([current, gate, ...rest]) => ({
        shape: current!.shape,
        data: current!.data.map((c, j) => rest.reduce((sum, h) => sum + gate!.data[j]! * h.data[j]!, c)),
      }),
    }),
  );
}
