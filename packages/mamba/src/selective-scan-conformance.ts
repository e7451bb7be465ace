import { opConformanceCases, Rng, Tensor, type ConformanceCase, type OpConformanceSpec, type ReferenceTensor } from "@densessm/core";
import { selectiveScan } from "./selective-scan.js";

// Conformance cases for mamba.selectiveScan, for every backend's tests next to core's suite. The
// reference is the recurrence spelled out in float64 loops, token by token:
//     h[b, t, e, n] = exp(Δ[b, t, e] A[e, n]) h[b, t−1, e, n] + Δ[b, t, e] x[b, t, e] B[b, t, n].

function scanReference(delta: ReferenceTensor, A: ReferenceTensor, B: ReferenceTensor, x: ReferenceTensor, h0: ReferenceTensor | undefined): ReferenceTensor {
  const [batch, len, e] = delta.shape as [number, number, number];
  const n = A.shape[1]!;
  const data = new Array<number>(batch * len * e * n);
  for (let b = 0; b < batch; b++)
    for (let c = 0; c < e; c++)
      for (let s = 0; s < n; s++) {
        let h = h0 ? h0.data[(b * e + c) * n + s]! : 0;
        for (let t = 0; t < len; t++) {
          const d = delta.data[(b * len + t) * e + c]!;
          h = Math.exp(d * A.data[c * n + s]!) * h + d * x.data[(b * len + t) * e + c]! * B.data[(b * len + t) * n + s]!;
          data[((b * len + t) * e + c) * n + s] = h;
        }
      }
  return { shape: [batch, len, e, n], data };
}

/**
 * The selective scan's conformance cases (op, decomposition and finite-difference gradient), to run on a
 * backend beside core's suite:
 *
 *     for (const c of [...conformanceSuite(), ...selectiveScanConformance()]) it(c.name, () => c.run(session));
 */
export function selectiveScanConformance(): ConformanceCase[] {
  const rng = new Rng(2403);
  const uniform = (shape: number[], lo: number, hi: number) => Tensor.float32(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => lo + (hi - lo) * rng.uniform()), shape);
  // Δ is positive (a softplus) and A negative, as in the model, so exp(ΔA) is a decay in (0, 1).
  const inputs = (batch: number, len: number, e: number, n: number, withH0: boolean) => [
    uniform([batch, len, e], 0.05, 1.5),
    uniform([e, n], -2, -0.1),
    uniform([batch, len, n], -1, 1),
    uniform([batch, len, e], -1, 1),
    ...(withH0 ? [uniform([batch, e, n], -1, 1)] : []),
  ];
  const op = "mamba.selectiveScan";
  const specs: OpConformanceSpec[] = [
    {
      name: `${op} over 5 tokens from a state`,
      op,
      inputs: inputs(2, 5, 3, 4, true),
      fn: ([delta, A, B, x, h0]) => selectiveScan({ delta: delta!, A: A!, B: B!, x: x!, h0: h0! }),
      expected: ([delta, A, B, x, h0]) => scanReference(delta!, A!, B!, x!, h0!),
    },
    {
      name: `${op} from zeros`,
      op,
      inputs: inputs(1, 4, 2, 3, false),
      fn: ([delta, A, B, x]) => selectiveScan({ delta: delta!, A: A!, B: B!, x: x! }),
      expected: ([delta, A, B, x]) => scanReference(delta!, A!, B!, x!, undefined),
    },
    {
      name: `${op} as a decoding step: three rows, one token`,
      op,
      inputs: inputs(3, 1, 4, 5, true),
      fn: ([delta, A, B, x, h0]) => selectiveScan({ delta: delta!, A: A!, B: B!, x: x!, h0: h0! }),
      expected: ([delta, A, B, x, h0]) => scanReference(delta!, A!, B!, x!, h0!),
    },
  ];
  return specs.flatMap(opConformanceCases);
}
