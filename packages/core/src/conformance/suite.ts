import { gradients, gradName } from "../autodiff/gradients.js";
import { DenseSSMError, DTypeError, ShapeError } from "../errors.js";
import type { SymTensor } from "../graph/symbolic.js";
import * as ops from "../ops/api.js";
import { hashUniform } from "../ops/random.js";
import { getOp } from "../ops/registry.js";
import { Rng } from "../runtime/rng.js";
import type { Session } from "../runtime/session.js";
import { float16BitsToFloat32, float32ToFloat16Bits, bfloat16BitsToFloat32, float32ToBFloat16Bits, type DType } from "../tensor/dtype.js";
import { formatShape, numel, sameShape, type Shape } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { assertClose, ConformanceError, feedsOf, graphOf, opConformanceCases, type ConformanceCase, type OpConformanceSpec } from "./op-cases.js";
import { quantSpecs } from "./quant-cases.js";
import { sampleSpecs } from "./sample-cases.js";
import { broadcastRef, matmulRef, permuteRef, reduceRef, ref, scanRef, unravel, ravel, type Ref } from "./reference.js";

type Fn = (xs: SymTensor[]) => SymTensor;

const rng = new Rng(1234);
const rand = (shape: Shape, lo = -1, hi = 1): Tensor => Tensor.float32(Array.from({ length: numel(shape) }, () => lo + (hi - lo) * rng.uniform()), shape);

function opCases(): OpConformanceSpec[] {
  const x234 = rand([2, 3, 4]);
  const pos = rand([2, 3, 4], 0.2, 3);
  const y31 = rand([3, 1], 0.5, 2);
  const un = (op: string, f: (v: number) => number, input = x234, call: Fn = (xs) => xs[0]!.builder.emit(getOp(op), [xs[0]!])): OpConformanceSpec => ({
    name: op,
    op,
    inputs: [input],
    fn: call,
    expected: ([x]) => ({ shape: x!.shape, data: x!.data.map(f) }),
  });
  const bin = (op: string, f: (x: number, y: number) => number, inputs = [x234, y31]): OpConformanceSpec => ({
    name: `${op} broadcast`,
    op,
    inputs,
    fn: (xs) => xs[0]!.builder.emit(getOp(op), [xs[0]!, xs[1]!]),
    expected: (xs) => broadcastRef(xs, f),
  });
  // Well-separated values, so finite differences never cross a change of argmax.
  const distinct = Tensor.float32(rng.shuffle(Array.from({ length: 24 }, (_, i) => i * 0.1 - 1.2)), [2, 3, 4]);
  const withTies = Tensor.float32([1, 2, 3, 2, 5, 0], [2, 3]);
  const sig = (v: number) => 1 / (1 + Math.exp(-v));
  const idx = Tensor.int32([2, 0, 2, 1], [2, 2]);

  return [
    un("neg", (v) => -v),
    un("exp", Math.exp),
    un("log", Math.log, pos),
    un("sin", Math.sin),
    un("cos", Math.cos),
    un("sqrt", Math.sqrt, pos),
    un("recip", (v) => 1 / v, pos),
    bin("add", (p, q) => p + q),
    bin("sub", (p, q) => p - q),
    bin("mul", (p, q) => p * q),
    bin("div", (p, q) => p / q),
    bin("maximum", Math.max, [x234, rand([4], -0.5, 0.5)]),
    { ...bin("less", (p, q) => (p < q ? 1 : 0), [withTies, Tensor.float32([2, 2, 2], [3])]), gradInputs: [] },
    { ...bin("equal", (p, q) => (p === q ? 1 : 0), [withTies, Tensor.float32([2, 2, 2], [3])]), gradInputs: [] },
    { ...bin("add", (p, q) => p + q, [Tensor.int32([1, -2, 3], [3]), Tensor.int32([10], [1])]), name: "add int32" },
    {
      name: "where",
      op: "where",
      inputs: [Tensor.float32([1, 0, 0, 1, 1, 0], [2, 3]), rand([2, 3]), rand([3])],
      fn: ([c, p, q]) => ops.where(c!, p!, q!),
      expected: (xs) => broadcastRef(xs, (c, p, q) => (c !== 0 ? p : q)),
      gradInputs: [1, 2],
    },
    { name: "sum axes 0,2", op: "sum", inputs: [x234], fn: ([x]) => x!.sum([0, 2]), expected: ([x]) => reduceRef(x!, [0, 2], false, 0, (s, v) => s + v) },
    { name: "sum all", op: "sum", inputs: [x234], fn: ([x]) => x!.sum(), expected: ([x]) => reduceRef(x!, [0, 1, 2], false, 0, (s, v) => s + v) },
    { name: "max axis 1 keepdims", op: "max", inputs: [distinct], fn: ([x]) => x!.max(1, true), expected: ([x]) => reduceRef(x!, [1], true, -Infinity, Math.max) },
    { name: "matmul", op: "matmul", inputs: [rand([2, 3, 4]), rand([4, 5])], fn: ([p, q]) => p!.matmul(q!), expected: ([p, q]) => matmulRef(p!, q!) },
    { name: "matmul broadcast batch", op: "matmul", inputs: [rand([2, 1, 3, 4]), rand([3, 4, 2])], fn: ([p, q]) => p!.matmul(q!), expected: ([p, q]) => matmulRef(p!, q!) },
    { name: "matmul transposed rhs (x @ W^T)", op: "matmul", inputs: [rand([2, 3, 4]), rand([5, 4])], fn: ([p, q]) => p!.matmul(q!.transpose()), expected: ([p, q]) => matmulRef(p!, permuteRef(q!, [1, 0])) },
    { name: "reshape", op: "reshape", inputs: [x234], fn: ([x]) => x!.reshape([4, -1]).mul(1), expected: ([x]) => ({ shape: [4, 6], data: x!.data }) },
    { name: "permute", op: "permute", inputs: [x234], fn: ([x]) => x!.permute([2, 0, 1]), expected: ([x]) => permuteRef(x!, [2, 0, 1]) },
    {
      name: "slice",
      op: "slice",
      inputs: [x234],
      fn: ([x]) => x!.slice(1, 1, 3).slice(2, -3, -1),
      expected: ([x]) => {
        const shape = [2, 2, 2];
        return { shape, data: Array.from({ length: 8 }, (_, i) => { const [p, q, r] = unravel(i, shape) as [number, number, number]; return x!.data[ravel([p, q + 1, r + 1], x!.shape)]!; }) };
      },
    },
    { name: "expand", op: "expand", inputs: [y31], fn: ([y]) => y!.expand([2, 3, 4]), expected: ([y]) => broadcastRef([y!, ref([2, 3, 4], new Array(24).fill(0))], (p) => p) },
    {
      name: "concat",
      op: "concat",
      inputs: [rand([2, 1, 3]), rand([2, 2, 3])],
      fn: (xs) => ops.concat(xs, 1),
      expected: ([p, q]) => {
        const shape = [2, 3, 3];
        return { shape, data: Array.from({ length: 18 }, (_, i) => { const [a0, a1, a2] = unravel(i, shape) as [number, number, number]; return a1 < 1 ? p!.data[ravel([a0, a1, a2], p!.shape)]! : q!.data[ravel([a0, a1 - 1, a2], q!.shape)]!; }) };
      },
    },
    {
      name: "pad",
      op: "pad",
      inputs: [rand([2, 3])],
      fn: ([x]) => ops.pad(x!, [1, 0, 2, 1], 7),
      expected: ([x]) => {
        const shape = [3, 6];
        return { shape, data: Array.from({ length: 18 }, (_, i) => { const [r, c] = unravel(i, shape) as [number, number]; return r >= 1 && c >= 2 && c < 5 ? x!.data[ravel([r - 1, c - 2], x!.shape)]! : 7; }) };
      },
    },
    {
      name: "gather axis 0",
      op: "gather",
      inputs: [rand([3, 4]), idx],
      fn: ([t, i]) => ops.gather(t!, i!, 0),
      expected: ([t, i]) => ({ shape: [2, 2, 4], data: i!.data.flatMap((r) => t!.data.slice(r * 4, r * 4 + 4)) }),
    },
    {
      name: "gather axis 1",
      op: "gather",
      inputs: [rand([2, 3, 2]), Tensor.int32([1, 1, 0], [3])],
      fn: ([t, i]) => ops.gather(t!, i!, 1),
      expected: ([t]) => ({ shape: [2, 3, 2], data: Array.from({ length: 12 }, (_, k) => { const [p, j, q] = unravel(k, [2, 3, 2]) as [number, number, number]; return t!.data[ravel([p, [1, 1, 0][j]!, q], t!.shape)]!; }) }),
    },
    {
      name: "scatterAdd repeated indices",
      op: "scatterAdd",
      inputs: [rand([2, 2, 4]), idx],
      fn: ([s, i]) => ops.scatterAdd(s!, i!, 0, 3),
      expected: ([s, i]) => {
        const out = new Array<number>(12).fill(0);
        i!.data.forEach((r, j) => { for (let q = 0; q < 4; q++) out[r * 4 + q]! += s!.data[j * 4 + q]!; });
        return { shape: [3, 4], data: out };
      },
    },
    {
      name: "cast float16 round trip",
      op: "cast",
      inputs: [Tensor.float32([0.1, -2.5, 65504, 1e-7, 70000, 1 / 3])],
      fn: ([x]) => x!.cast("float16").cast("float32"),
      expected: ([x]) => ({ shape: x!.shape, data: x!.data.map((v) => float16BitsToFloat32(float32ToFloat16Bits(v))) }),
      tol: 0,
      gradInputs: [], // rounding is piecewise constant: finite differences say nothing
    },
    {
      name: "cast bfloat16 round trip",
      op: "cast",
      inputs: [Tensor.float32([0.1, -2.5, 3e38, 1e-30, 1 / 3])],
      fn: ([x]) => x!.cast("bfloat16").cast("float32"),
      expected: ([x]) => ({ shape: x!.shape, data: x!.data.map((v) => bfloat16BitsToFloat32(float32ToBFloat16Bits(v))) }),
      tol: 0,
      gradInputs: [],
    },
    { name: "cast to int32 truncates", op: "cast", inputs: [Tensor.float32([-2.7, 2.7, 0.5, -0.5])], fn: ([x]) => x!.cast("int32"), expected: ([x]) => ({ shape: x!.shape, data: x!.data.map(Math.trunc) }), tol: 0, gradInputs: [] },
    { name: "scan", op: "scan", inputs: [rand([2, 5, 3], 0.3, 0.99), rand([2, 5, 3])], fn: ([a, c]) => ops.scan(a!, c!, { axis: 1 }), expected: ([a, c]) => scanRef(a!, c!, 1, false) },
    {
      name: "scan reverse with h0",
      op: "scan",
      inputs: [rand([4, 2, 3], 0.3, 0.99), rand([4, 2, 3]), rand([2, 3])],
      fn: ([a, c, h]) => ops.scan(a!, c!, { axis: 0, reverse: true, h0: h! }),
      expected: ([a, c, h]) => scanRef(a!, c!, 0, true, h!),
    },
    {
      name: "rand",
      op: "rand",
      inputs: [Tensor.int32([42], [])],
      fn: ([s]) => ops.rand(s!, [3, 5]),
      expected: () => ({ shape: [3, 5], data: Array.from({ length: 15 }, (_, i) => hashUniform(42, i)) }),
      tol: 0,
      gradInputs: [],
    },
    { ...un("stopGradient", (v) => v, x234, ([x]) => ops.stopGradient(x!)), gradInputs: [] }, // its gradient: stopGradientCase
    un("sigmoid", sig, x234, ([x]) => x!.sigmoid()),
    un("silu", (v) => v * sig(v), x234, ([x]) => x!.silu()),
    un("softplus", (v) => Math.log1p(Math.exp(-Math.abs(v))) + Math.max(v, 0), Tensor.float32([-30, -3, -0.5, 0, 0.5, 3, 30]), ([x]) => x!.softplus()),
    un("tanh", Math.tanh, x234, ([x]) => x!.tanh()),
    un("gelu", (v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))), x234, ([x]) => ops.gelu(x!)),
    {
      name: "softmax axis 1",
      op: "softmax",
      inputs: [rand([2, 3, 4], -3, 3)],
      fn: ([x]) => x!.softmax(1),
      expected: ([x]) => {
        const m = reduceRef(x!, [1], true, -Infinity, Math.max);
        const e = broadcastRef([x!, m], (v, mv) => Math.exp(v - mv));
        return broadcastRef([e, reduceRef(e, [1], true, 0, (s, v) => s + v)], (v, s) => v / s);
      },
    },
    {
      name: "logSoftmax",
      op: "logSoftmax",
      inputs: [rand([3, 5], -3, 3)],
      fn: ([x]) => x!.logSoftmax(-1),
      expected: ([x]) => {
        const lse = reduceRef(x!, [1], true, 0, (s, v) => s + Math.exp(v));
        return broadcastRef([x!, lse], (v, s) => v - Math.log(s));
      },
    },
    {
      name: "crossEntropy with ignoreIndex",
      op: "crossEntropy",
      inputs: [rand([2, 3, 5], -2, 2), Tensor.int32([4, 0, -100, 2, -100, 1], [2, 3])],
      fn: ([l, y]) => ops.crossEntropy(l!, y!),
      expected: ([l, y]) => {
        let total = 0;
        let count = 0;
        y!.data.forEach((label, r) => {
          if (label === -100) return;
          const row = l!.data.slice(r * 5, r * 5 + 5);
          total += Math.log(row.reduce((s, v) => s + Math.exp(v), 0)) - row[label]!;
          count++;
        });
        return { shape: [], data: [total / count] };
      },
      gradInputs: [0],
    },
    {
      name: "rmsnorm",
      op: "rmsnorm",
      inputs: [rand([2, 3, 4]), rand([4], 0.5, 1.5)],
      fn: ([x, w]) => ops.rmsnorm(x!, w!, 1e-6),
      expected: ([x, w]) => {
        const ms = reduceRef({ shape: x!.shape, data: x!.data.map((v) => v * v) }, [2], true, 0, (s, v) => s + v / 4);
        return broadcastRef([x!, ms, { shape: [4], data: w!.data }], (v, m, g) => (v / Math.sqrt(m + 1e-6)) * g);
      },
    },
    {
      name: "rmsnorm without weight",
      op: "rmsnorm",
      inputs: [rand([3, 4])],
      fn: ([x]) => ops.rmsnorm(x!, undefined, 1e-5),
      expected: ([x]) => {
        const ms = reduceRef({ shape: x!.shape, data: x!.data.map((v) => v * v) }, [1], true, 0, (s, v) => s + v / 4);
        return broadcastRef([x!, ms], (v, m) => v / Math.sqrt(m + 1e-5));
      },
    },
    {
      name: "layerNorm",
      op: "layerNorm",
      inputs: [rand([3, 4]), rand([4], 0.5, 1.5), rand([4])],
      fn: ([x, w, bias]) => ops.layerNorm(x!, w!, bias!, 1e-5),
      expected: ([x, w, bias]) => {
        const mu = reduceRef(x!, [1], true, 0, (s, v) => s + v / 4);
        const c = broadcastRef([x!, mu], (v, m) => v - m);
        const vr = reduceRef({ shape: c.shape, data: c.data.map((v) => v * v) }, [1], true, 0, (s, v) => s + v / 4);
        return broadcastRef([c, vr, w!, bias!], (v, s, g, o) => (v / Math.sqrt(s + 1e-5)) * g + o);
      },
    },
    {
      name: "causalConv1d",
      op: "causalConv1d",
      inputs: [rand([2, 5, 3]), rand([3, 4]), rand([3])],
      fn: ([x, w, bias]) => ops.causalConv1d(x!, w!, bias!),
      expected: ([x, w, bias]) => causalConvReference(x!, w!, bias!, 3),
    },
    {
      // A decoder's chunk: x's first K−1 = 3 positions are the history, the outputs are the rest.
      name: "causalConv1d with history",
      op: "causalConv1d",
      inputs: [rand([2, 5, 3]), rand([3, 4]), rand([3])],
      fn: ([x, w, bias]) => ops.causalConv1d(x!, w!, bias!, { history: true }),
      expected: ([x, w, bias]) => causalConvReference(x!, w!, bias!, 0),
    },
    ...sampleSpecs(),
  ];
}

/** y[b, t, c] = bias[c] + Σ_j w[c, j] x[b, t − shift + j, c] over x's in-range positions, for every t with t − shift + K − 1 inside x. */
function causalConvReference(x: Ref, w: Ref, bias: Ref, shift: number): Ref {
  const [batch, len, channels] = x.shape as [number, number, number];
  const width = w.shape[1]!;
  const outLen = len - (width - 1) + shift;
  const data: number[] = [];
  for (let b = 0; b < batch; b++)
    for (let t = 0; t < outLen; t++)
      for (let c = 0; c < channels; c++) {
        let s = bias.data[c]!;
        for (let j = 0; j < width; j++) {
          const src = t - shift + j;
          if (src >= 0) s += w.data[c * width + j]! * x.data[ravel([b, src, c], x.shape)]!;
        }
        data.push(s);
      }
  return { shape: [batch, outLen, channels], data };
}

async function expectError(what: string, run: () => unknown, kind: new (...a: never[]) => Error, mustMention: string): Promise<void> {
  try {
    await run();
  } catch (e) {
    if (!(e instanceof kind)) throw new ConformanceError(`${what}: threw ${(e as Error).name} ("${(e as Error).message}"), expected ${kind.name}`);
    if (!(e as Error).message.includes(mustMention)) throw new ConformanceError(`${what}: the error "${(e as Error).message}" does not mention "${mustMention}"`);
    return;
  }
  throw new ConformanceError(`${what}: no error was thrown`);
}

function errorCases(): ConformanceCase[] {
  const run = (name: string, body: (session: Session) => Promise<void>): ConformanceCase => ({ name: `errors/${name}`, group: "errors", run: body });
  const square = graphOf(([x]) => x!.mul(x!), [Tensor.zeros([2, 3])]);
  return [
    run("wrong input shape", (s) => expectError("feeding [3, 2] to a [2, 3] input", () => s.run(square, { x0: Tensor.zeros([3, 2]) }), ShapeError, "x0")),
    run("missing input", (s) => expectError("running without an input", () => s.run(square, {}), ShapeError, "x0")),
    run("wrong input dtype", (s) => expectError("feeding int32 to a float32 input", () => s.run(square, { x0: Tensor.int32([1, 2, 3, 4, 5, 6], [2, 3]) }), DTypeError, "x0")),
    run("gather index out of range", (s) =>
      expectError("gathering row 7 of 3", () => s.run(graphOf(([t, i]) => ops.gather(t!, i!, 0), [Tensor.zeros([3, 2]), Tensor.int32([0, 7])]), { x0: Tensor.zeros([3, 2]), x1: Tensor.int32([0, 7]) }), DenseSSMError, "out of range"),
    ),
    run("matmul inner dimensions at trace time", () => expectError("[2, 3] @ [4, 5]", () => graphOf(([p, q]) => p!.matmul(q!), [Tensor.zeros([2, 3]), Tensor.zeros([4, 5])]), ShapeError, "inner dimensions")),
    run("mixed dtypes at trace time", () => expectError("float32 + int32", () => graphOf(([p, q]) => p!.add(q!), [Tensor.zeros([2]), Tensor.int32([1, 2])]), DTypeError, "cast")),
    run("outputs are deterministic and match declared types", async (s) => {
      const inputs = [rand([17, 33]), rand([33, 9])];
      const g = graphOf(([p, q]) => p!.matmul(q!).softmax(-1), inputs);
      const [first, second] = [(await s.run(g, feedsOf(inputs))).y!, (await s.run(g, feedsOf(inputs))).y!];
      if (first.dtype !== "float32" || !sameShape(first.shape, [17, 9])) throw new ConformanceError(`output is ${first.dtype}${formatShape(first.shape)}, expected float32[17, 9]`);
      if (!first.toFloat32().every((v, i) => Object.is(v, second.toFloat32()[i]))) throw new ConformanceError("two runs of the same graph gave different bits");
    }),
  ];
}

/** d/dx sum(x · stopGradient(x)) is x, not the 2x that finite differences see. */
function stopGradientCase(): ConformanceCase {
  const x = rand([2, 3]);
  return {
    name: "grad/stopGradient",
    group: "grad",
    op: "stopGradient",
    run: async (session) => {
      const g = gradients(graphOf(([v]) => v!.mul(ops.stopGradient(v!)).sum(), [x]), { loss: "y", params: [], inputs: ["x0"] });
      assertClose("d/dx sum(x · stopGradient(x))", (await session.run(g, feedsOf([x])))[gradName("x0")]!, ref(x.shape, x.toFloat32()), 1e-6);
    },
  };
}

/**
 * The conformance suite every backend runs (ours in their tests; third-party backends in theirs):
 * each op against a naive float64 reference, each composite's reference decomposition against the
 * same reference, finite-difference checks of every gradient rule, and bad input. Packages that
 * define composites ship their own cases (built with `opConformanceCases`) to run alongside.
 * `dtypes` (a backend's `capabilities.dtypes`) leaves out the cases that need a dtype the backend
 * does not hold, such as the float16 casts (int8/uint8 inputs are not such a need: a Session
 * carries them in int32, see `widenStorage`); by default every case is included.
 *
 *     for (const c of conformanceSuite(backend.capabilities)) it(c.name, () => c.run(session));
 */
export function conformanceSuite(options: { readonly dtypes?: readonly DType[] } = {}): ConformanceCase[] {
  const { dtypes } = options;
  const cases = [...[...opCases(), ...quantSpecs()].flatMap(opConformanceCases), stopGradientCase(), ...errorCases()];
  return dtypes ? cases.filter((c) => (c.dtypes ?? []).every((d) => dtypes.includes(d))) : cases;
}

/** Ops that `cases` exercise (by default core's suite), for coverage checks. */
export function conformanceOps(cases: readonly ConformanceCase[] = conformanceSuite()): Set<string> {
  return new Set(cases.flatMap((c) => (c.op ? [c.op] : [])));
}
