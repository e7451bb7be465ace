import { BackendError, numel, stridesOf, type DType, type Node } from "@densessm/core";
import type { KernelBuilder } from "../lang/builder.js";
import { defineKernel } from "../lang/kernel.js";
import { broadcastStrides, elementIndex, guard, offsetOf, roundToBFloat16, roundToHalf, sinCos } from "../lang/std.js";
import { exp, f32, log, select, sqrt, type Val } from "../lang/values.js";
import { elementGrid, wordType } from "./grid.js";
import type { KernelFactory, KernelPlan } from "./types.js";

// Every elementwise op, and every chain of them the executor fuses, is one kernel: a small
// program of steps evaluated per output element. A step reads graph inputs (each through its own
// strided index map from the output index: a broadcast, or a permute/slice/expand the chain
// absorbed) or earlier steps, so a fused chain such as silu(a) * b or a cast after an add keeps
// its intermediates in registers.

/** Elementwise ops of the graph, primitives and the fused composites, by name. */
export const ELEMENTWISE_OPS: ReadonlySet<string> = new Set([
  "neg", "exp", "log", "sin", "cos", "sqrt", "recip", "sigmoid", "silu", "softplus",
  "add", "sub", "mul", "div", "maximum", "less", "equal", "where", "cast",
]);

export type ElementwiseStep = {
  readonly op: string;
  /** Values read: i < inputs.length is input i, then step i - inputs.length. */
  readonly args: readonly number[];
  /** The target dtype of a cast. */
  readonly to?: DType;
};

export type InputMap = { readonly t: "f32" | "i32"; readonly strides: readonly number[]; readonly base: number };

export type ElementwiseSpec = {
  readonly outShape: readonly number[];
  /** Each input's element type and offset `base + Σ_d coord_d(out index) * strides[d]`. */
  readonly inputs: readonly InputMap[];
  readonly steps: readonly ElementwiseStep[];
};

type Value = Val<"f32"> | Val<"i32">;

/** One step's value, with the same formulas as backend-cpu's kernels. */
function apply(k: KernelBuilder, step: ElementwiseStep, args: readonly Value[]): Value {
  const [a, b, c] = args as [Value, Value, Value];
  const x = a as Val<"f32">;
  switch (step.op) {
    case "neg":
      return a.neg();
    case "exp":
      return exp(x);
    case "log":
      return log(x);
    case "sqrt":
      return sqrt(x);
    case "recip":
      return f32(1).div(x);
    case "sin":
      return sinCos(k, x, 0);
    case "cos":
      return sinCos(k, x, 1);
    // exp(-x) overflows to inf for very negative x; 1/(1+inf) is 0 and x/inf is -0, as on the CPU.
    case "sigmoid":
      return f32(1).div(f32(1).add(exp(x.neg())));
    case "silu":
      return x.div(f32(1).add(exp(x.neg())));
    case "softplus":
      return x.max(0).add(log(f32(1).add(exp(x.abs().neg()))));
    case "add":
      return (a as Val<"f32">).add(b as Val<"f32">);
    case "sub":
      return (a as Val<"f32">).sub(b as Val<"f32">);
    case "mul":
      return (a as Val<"f32">).mul(b as Val<"f32">);
    case "div":
      return (a as Val<"f32">).div(b as Val<"f32">);
    case "maximum":
      return (a as Val<"f32">).max(b as Val<"f32">);
    // Comparisons produce float 0/1 masks whatever the operand dtype.
    case "less":
      return select((a as Val<"f32">).lt(b as Val<"f32">), f32(1), f32(0));
    case "equal":
      return select((a as Val<"f32">).eq(b as Val<"f32">), f32(1), f32(0));
    case "where":
      return select((a as Val<"f32">).ne(0), b as Val<"f32">, c as Val<"f32">);
    case "cast":
      return cast(k, a, step.to!);
    default:
      throw new BackendError(`gpu: no elementwise kernel for "${step.op}"`);
  }
}

/** `v` as the value a tensor of dtype `to` holds: i32 truncates toward zero, halves round to nearest even. */
function cast(k: KernelBuilder, v: Value, to: DType): Value {
  if (to === "int32") return v.i32();
  const f = v.f32();
  if (to === "float16") return roundToHalf(k, f);
  if (to === "bfloat16") return roundToBFloat16(k, f);
  return f;
}

export const elementwiseKernel = defineKernel("elementwise", (k, spec: ElementwiseSpec) => {
  const xs = spec.inputs.map((input, j) => k.input(`x${j}`, input.t));
  const lastT = spec.steps.length ? stepTypes(spec)[spec.steps.length - 1]! : spec.inputs[0]!.t;
  const y = k.output("y", lastT);
  const i = elementIndex(k);
  guard(k, i, numel(spec.outShape));
  // Each input is read once, at its mapped offset, however many steps use it.
  const contiguous = stridesOf(spec.outShape);
  const identity = (m: InputMap) => m.base === 0 && spec.outShape.every((size, d) => size === 1 || m.strides[d] === contiguous[d]);
  const values: Value[] = spec.inputs.map((m, j) => k.let(`v${j}`, xs[j]!.at(identity(m) ? i : offsetOf(k, `at${j}`, i, spec.outShape, m.strides, m.base))) as Value);
  spec.steps.forEach((step, s) => {
    values.push(k.let(`s${s}`, apply(k, step, step.args.map((a) => values[a]!)) as Val<"f32">));
  });
  y.set(i, values[values.length - 1]! as Val<"f32">);
});

/** The register type of every step's value. */
export function stepTypes(spec: Pick<ElementwiseSpec, "inputs" | "steps">): ("f32" | "i32")[] {
  const types: ("f32" | "i32")[] = spec.inputs.map((x) => x.t);
  const out: ("f32" | "i32")[] = [];
  for (const step of spec.steps) {
    const t = step.op === "less" || step.op === "equal" ? "f32" : step.op === "cast" ? wordType(step.to!) : step.op === "where" ? types[step.args[1]!]! : types[step.args[0]!]!;
    types.push(t);
    out.push(t);
  }
  return out;
}

/** The plan of an elementwise program over the node's output. */
export function elementwisePlan(node: Node, spec: ElementwiseSpec): KernelPlan {
  const n = numel(node.shape);
  return { dispatches: [{ program: elementwiseKernel.specialize(spec), groups: elementGrid(n), inputs: [...spec.inputs.keys()] }] };
}

/** One elementwise node as a one-step program. */
export const elementwiseNode: KernelFactory = (node, inputs) => {
  if (!ELEMENTWISE_OPS.has(node.op)) throw new BackendError(`gpu: no elementwise kernel for "${node.op}"`);
  const spec: ElementwiseSpec = {
    outShape: node.shape,
    inputs: inputs.map((x) => ({ t: wordType(x.dtype), strides: broadcastStrides(x.shape, node.shape), base: 0 })),
    steps: [{ op: node.op, args: inputs.map((_, j) => j), ...(node.op === "cast" ? { to: node.dtype } : {}) }],
  };
  return elementwisePlan(node, spec);
};
