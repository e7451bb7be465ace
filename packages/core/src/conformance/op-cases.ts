import { gradients, gradName } from "../autodiff/gradients.js";
import { DenseSSMError } from "../errors.js";
import type { SymTensor } from "../graph/symbolic.js";
import { widenStorage } from "../graph/rewrites.js";
import { trace } from "../graph/symbolic.js";
import { getOp } from "../ops/registry.js";
import { Rng } from "../runtime/rng.js";
import type { Session } from "../runtime/session.js";
import { isFloat, type DType } from "../tensor/dtype.js";
import { formatShape, numel, sameShape, type Shape } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { ref, unravel, type Ref } from "./reference.js";

// Turns one op check (inputs, the op applied to them, a float64 reference) into the conformance
// cases every backend runs: the op itself, its decomposition when it is a composite, and its
// gradient against finite differences. Core's suite and the model packages' suites share it.

/** A failed conformance check, naming the case and what differed. */
export class ConformanceError extends DenseSSMError {
  override name = "ConformanceError";
}

export interface ConformanceCase {
  /** Unique, e.g. "op/matmul broadcast batch" or "grad/softmax". */
  readonly name: string;
  readonly group: "op" | "decomposition" | "grad" | "errors";
  /** The op this case checks (absent for the error cases), for coverage checks. */
  readonly op?: string;
  /** Every dtype its graphs need the backend to hold (absent: float32 and int32 only, which every backend holds). */
  readonly dtypes?: readonly DType[];
  run(session: Session): Promise<void>;
}

type Fn = (xs: SymTensor[]) => SymTensor;

/** One check of an op: what `opConformanceCases` turns into op/, decomposition/ and grad/ cases. */
export interface OpConformanceSpec {
  /** The case name after its group, e.g. "matmul broadcast batch". */
  readonly name: string;
  /** The op whose kernel, decomposition and gradient this checks. */
  readonly op: string;
  readonly inputs: readonly Tensor[];
  /** Emits the op on the inputs (as graph inputs x0, x1, ...). */
  readonly fn: Fn;
  /** A naive float64 reference of the result, written independently of the op's decomposition. */
  readonly expected: (xs: Ref[]) => Ref;
  /** Tolerance relative to max(1, |expected|); default 1e-5. */
  readonly tol?: number;
  /** Differentiable inputs for the gradient check (default: every float input; [] skips it). */
  readonly gradInputs?: readonly number[];
}

// Only the gradient check's random output weights come from here; inputs are the spec's.
const rng = new Rng(4321);
const rand = (shape: Shape, lo: number, hi: number): Tensor => Tensor.float32(Array.from({ length: numel(shape) }, () => lo + (hi - lo) * rng.uniform()), shape);
const asRef = (t: Tensor): Ref => ref(t.shape, t.toFloat32());

/** A graph computing `fn` of inputs x0, x1, ... typed like `inputs`, output "y". */
export function graphOf(fn: Fn, inputs: readonly Tensor[], expandAll = false) {
  return trace(
    (xs) => ({ y: fn(inputs.map((_, i) => xs[`x${i}`]!)) }),
    { inputs: Object.fromEntries(inputs.map((t, i) => [`x${i}`, { shape: t.shape, dtype: t.dtype }])), ...(expandAll ? { expand: () => true } : {}) },
  );
}

export const feedsOf = (inputs: readonly Tensor[]) => Object.fromEntries(inputs.map((t, i) => [`x${i}`, t]));

export function assertClose(what: string, actual: Tensor, expected: Ref, tol: number): void {
  if (!sameShape(actual.shape, expected.shape)) throw new ConformanceError(`${what}: shape ${formatShape(actual.shape)}, expected ${formatShape(expected.shape)}`);
  const a = actual.toFloat32();
  for (let i = 0; i < a.length; i++) {
    const e = expected.data[i]!;
    const v = a[i]!;
    const ok = v === e || Number.isNaN(e) ? v === e || Number.isNaN(v) : Math.abs(v - e) <= tol * Math.max(1, Math.abs(e));
    if (!ok) throw new ConformanceError(`${what}: element ${i} (index [${unravel(i, expected.shape).join(", ")}]) is ${v}, expected ${e} (tolerance ${tol})`);
  }
}

function gradTargets(c: OpConformanceSpec): readonly number[] {
  return c.gradInputs ?? c.inputs.map((t, i) => (isFloat(t.dtype) ? i : -1)).filter((i) => i >= 0);
}

/** Central finite differences of sum(f(x) * r) against the gradient graph, on a few coordinates. */
async function checkGradient(session: Session, c: OpConformanceSpec): Promise<void> {
  const wrt = gradTargets(c);
  const probe = graphOf(c.fn, c.inputs);
  const outShape = probe.nodes[probe.outputs[0]!.id]!.shape;
  const weights = rand(outShape, 0.5, 1.5);
  const lossFn: Fn = (xs) => c.fn(xs).mul(xs[0]!.builder.constant(weights)).sum();
  const lossGraph = graphOf(lossFn, c.inputs);
  const gradGraph = gradients(lossGraph, { loss: "y", params: [], inputs: wrt.map((i) => `x${i}`) });
  const analytic = await session.run(gradGraph, feedsOf(c.inputs));
  const eps = 1e-2;
  for (const i of wrt) {
    const g = analytic[gradName(`x${i}`)]!.toFloat32();
    const base = c.inputs[i]!.toFloat32();
    const coords = [...new Set([0, base.length - 1, Math.floor(base.length / 2), Math.floor(base.length / 3)])];
    for (const k of coords) {
      const at = async (delta: number) => {
        const perturbed = Float32Array.from(base);
        perturbed[k]! += delta;
        const inputs = c.inputs.map((t, j) => (j === i ? new Tensor(perturbed, t.shape, "float32") : t));
        return (await session.run(lossGraph, feedsOf(inputs))).y!.item();
      };
      const numeric = ((await at(eps)) - (await at(-eps))) / (2 * eps);
      const err = Math.abs(numeric - g[k]!);
      if (err > 2e-2 * Math.max(1, Math.abs(numeric))) {
        throw new ConformanceError(`gradient of ${c.name} w.r.t. input ${i} at element ${k}: analytic ${g[k]}, finite difference ${numeric}`);
      }
    }
  }
}

/**
 * The conformance cases of one op check: "op/<name>" (the op as the backend runs it, fused or
 * not), "decomposition/<name>" for composites (the reference decomposition, forced), and
 * "grad/<name>" (finite differences) when the op has a gradient and the spec differentiable inputs.
 * Packages that define composites ship their checks this way, for every backend to run:
 *
 *     for (const c of [...conformanceSuite(), ...myConformance()]) it(c.name, () => c.run(session));
 */
export function opConformanceCases(spec: OpConformanceSpec): ConformanceCase[] {
  const tol = spec.tol ?? 1e-5;
  const { name, op } = spec;
  const def = getOp(op);
  // What a backend must hold: storage dtypes a Session widens for backends without them do not count.
  const dtypes = [...new Set(widenStorage(graphOf(spec.fn, spec.inputs), ["float32", "int32"]).nodes.map((n) => n.dtype))];
  const cases: ConformanceCase[] = [
    {
      name: `op/${name}`,
      group: "op",
      op,
      dtypes,
      run: async (session) => assertClose(name, (await session.run(graphOf(spec.fn, spec.inputs), feedsOf(spec.inputs))).y!, spec.expected(spec.inputs.map(asRef)), tol),
    },
  ];
  if (def.kind === "composite") {
    cases.push({
      name: `decomposition/${name}`,
      group: "decomposition",
      op,
      dtypes,
      run: async (session) => assertClose(`${name} (decomposed)`, (await session.run(graphOf(spec.fn, spec.inputs, true), feedsOf(spec.inputs))).y!, spec.expected(spec.inputs.map(asRef)), Math.max(tol, 1e-5)),
    });
  }
  if ((def.grad || def.kind === "composite") && gradTargets(spec).length > 0) cases.push({ name: `grad/${name}`, group: "grad", op, dtypes, run: (session) => checkGradient(session, spec) });
  return cases;
}
