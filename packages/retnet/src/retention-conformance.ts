import { opConformanceCases, Rng, Tensor, type ConformanceCase, type OpConformanceSpec, type ReferenceTensor } from "@densessm/core";
import { chunkwiseRetention, parallelRetention, retentionStep } from "./retention-ops.js";

// Conformance cases for the retention ops, for every backend's tests next to core's suite. The
// reference is retention's definition spelled out in float64 loops, written without the
// decompositions' masks, chunking or scans, so it checks those too:
//     o[b, t, h] = Σ_{s≤t} (q_t · k_s) γ_h^(t-s) / sqrt(c_(start+t)) · v_s / divisor_t,
//     c_p = Σ_{j≤p} γ^j,   divisor_t = clamp(Σ_s |score_ts|, 1, 5e4) with the row divisor, else 1.

function retentionReference(q: ReferenceTensor, k: ReferenceTensor, v: ReferenceTensor, gammas: readonly number[], rowNormalize: boolean, start: number): ReferenceTensor {
  const [batch, heads, len, dk] = q.shape as [number, number, number, number];
  const dv = v.shape[3]!;
  const at = (x: ReferenceTensor, width: number, b: number, h: number, t: number, i: number) => x.data[((b * heads + h) * len + t) * width + i]!;
  const out = new Array<number>(batch * len * heads * dv).fill(0);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const g = gammas[h]!;
      for (let t = 0; t < len; t++) {
        let c = 0;
        for (let j = 0; j <= start + t; j++) c += g ** j;
        const scores: number[] = [];
        for (let s = 0; s <= t; s++) {
          let dot = 0;
          for (let i = 0; i < dk; i++) dot += at(q, dk, b, h, t, i) * at(k, dk, b, h, s, i);
          scores.push((dot * g ** (t - s)) / Math.sqrt(c));
        }
        const divisor = rowNormalize ? Math.min(Math.max(scores.reduce((sum, x) => sum + Math.abs(x), 0), 1), 5e4) : 1;
        for (let j = 0; j < dv; j++) {
          let o = 0;
          scores.forEach((score, s) => (o += score * at(v, dv, b, h, s, j)));
          out[((b * len + t) * heads + h) * dv + j] = o / divisor;
        }
      }
    }
  }
  return { shape: [batch, len, heads, dv], data: out };
}

/** One recurrent step's next state spelled out: S'[b, h, i, j] = carry[b, h] S[b, h, i, j] + k[b, h, i] v[b, h, j]. */
function stepReference(k: ReferenceTensor, v: ReferenceTensor, state: ReferenceTensor, carry: ReferenceTensor): ReferenceTensor {
  const [batch, heads, dk, dv] = state.shape as [number, number, number, number];
  const data = new Array<number>(batch * heads * dk * dv);
  for (let p = 0; p < batch * heads; p++)
    for (let i = 0; i < dk; i++)
      for (let j = 0; j < dv; j++) {
        const at = (p * dk + i) * dv + j;
        data[at] = carry.data[p]! * state.data[at]! + k.data[p * dk + i]! * v.data[p * dv + j]!;
      }
  return { shape: state.shape, data };
}

/**
 * The retention ops' conformance cases (op, decomposition and finite-difference gradient), to run
 * on a backend beside core's suite:
 *
 *     for (const c of [...conformanceSuite(), ...retentionConformance()]) it(c.name, () => c.run(session));
 */
export function retentionConformance(): ConformanceCase[] {
  const rng = new Rng(2024);
  const rand = (shape: number[]) => Tensor.float32(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => 2 * rng.uniform() - 1), shape);
  // 1 - 2^-5 is DenseGAU-RetNet's first head; 0.5 decays fast enough to show within a few tokens.
  const gammas = [0.96875, 0.5];
  const qkv = (batch: number, len: number, dk: number, dv: number) => [rand([batch, 2, len, dk]), rand([batch, 2, len, dk]), rand([batch, 2, len, dv])];
  const op = "retnet.parallelRetention";
  const chunked = "retnet.chunkwiseRetention";
  const step = "retnet.retentionStep";
  // A decoding step's inputs: k, v, the state and a carry in (0, 1) that differs per row and head.
  const stepInputs = (batch: number, dk: number, dv: number) => [rand([batch, 2, 1, dk]), rand([batch, 2, 1, dv]), rand([batch, 2, dk, dv]), Tensor.float32(Array.from({ length: batch * 2 }, () => 0.05 + 0.9 * rng.uniform()), [batch, 2])];
  const specs: OpConformanceSpec[] = [
    {
      // Rows' abs-sums fall on both sides of 1 here, so both sides of the clamp are checked. The
      // divisor is detached, so finite differences cannot check this case's gradient.
      name: `${op} with the row divisor`,
      op,
      inputs: qkv(2, 6, 4, 3),
      fn: ([q, k, v]) => parallelRetention(q!, k!, v!, { gammas, rowNormalize: true }),
      expected: ([q, k, v]) => retentionReference(q!, k!, v!, gammas, true, 0),
      gradInputs: [],
    },
    {
      name: `${op} without the row divisor`,
      op,
      inputs: qkv(1, 5, 2, 4),
      fn: ([q, k, v]) => parallelRetention(q!, k!, v!, { gammas, rowNormalize: false }),
      expected: ([q, k, v]) => retentionReference(q!, k!, v!, gammas, false, 0),
    },
    {
      name: `${chunked} with a ragged last chunk from position 3`,
      op: chunked,
      inputs: qkv(2, 7, 4, 2),
      fn: ([q, k, v]) => chunkwiseRetention(q!, k!, v!, { gammas, chunkSize: 3, start: 3 }),
      expected: ([q, k, v]) => retentionReference(q!, k!, v!, gammas, false, 3),
    },
    {
      name: `${chunked} in one chunk`,
      op: chunked,
      inputs: qkv(1, 4, 2, 3),
      fn: ([q, k, v]) => chunkwiseRetention(q!, k!, v!, { gammas, chunkSize: 8 }),
      expected: ([q, k, v]) => retentionReference(q!, k!, v!, gammas, false, 0),
    },
    {
      name: `${step} over three rows at their own positions, dk 5, dv 7`,
      op: step,
      inputs: stepInputs(3, 5, 7),
      fn: ([k, v, state, carry]) => retentionStep(k!, v!, state!, carry!),
      expected: ([k, v, state, carry]) => stepReference(k!, v!, state!, carry!),
    },
    {
      name: `${step} from the first position (carry 0)`,
      op: step,
      inputs: [...stepInputs(1, 2, 3).slice(0, 3), Tensor.float32([0, 0], [1, 2])],
      fn: ([k, v, state, carry]) => retentionStep(k!, v!, state!, carry!),
      expected: ([k, v, state, carry]) => stepReference(k!, v!, state!, carry!),
    },
  ];
  return specs.flatMap(opConformanceCases);
}
