import { DTypeError, ShapeError } from "../errors.js";
import { currentBuilder, type SymTensor, type TensorLike } from "../graph/symbolic.js";
import { formatShape, normalizeAxis, numel } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { add, equal, exp, log, maximum, mul, neg, recip, rsqrt, sub } from "./elementwise.js";
import { asSym, expectArity, expectFloat, input } from "./helpers.js";
import { matmul } from "./matmul.js";
import { max, sum } from "./reduce.js";
import { defineOp, type CompositeOpDef, type TypeInfo } from "./registry.js";
import { padAxis, sliceAxis } from "./views.js";

// Composite ops: each is one graph node that a backend may run as a fused kernel, with a reference
// decomposition into primitives that every backend can run. Their numerics are the decomposition's.

function sameAsInput(op: string) {
  return (inputs: readonly TypeInfo[]): TypeInfo => {
    const x = input(inputs, 0, op);
    expectFloat(x, op);
    return x;
  };
}

function unaryComposite(name: string, doc: string, decompose: (x: SymTensor) => SymTensor, grad?: CompositeOpDef["grad"]): CompositeOpDef {
  return defineOp({ name, kind: "composite", doc, infer: sameAsInput(name), decompose: ([x]) => decompose(x!), ...(grad ? { grad } : {}) });
}

export const SIGMOID = unaryComposite(
  "sigmoid",
  "1 / (1 + e^-x)",
  (x) => recip(add(exp(neg(x)), 1)),
  ({ grad, output }) => [grad.mul(output).mul(sub(1, output))],
);
export const SILU = unaryComposite("silu", "x * sigmoid(x) (swish)", (x) => mul(x, sigmoid(x)));
/** Stable form: max(x, 0) + log(1 + e^-|x|); exact where PyTorch's thresholded softplus switches to x. */
export const SOFTPLUS = unaryComposite(
  "softplus",
  "log(1 + e^x)",
  (x) => add(maximum(x, 0), log(add(exp(neg(maximum(x, neg(x)))), 1))),
  ({ grad, inputs: [x] }) => [grad.mul(sigmoid(x!))],
);
export const TANH = unaryComposite(
  "tanh",
  "hyperbolic tangent, as 2 sigmoid(2x) - 1",
  (x) => sub(mul(sigmoid(mul(x, 2)), 2), 1),
  ({ grad, output }) => [grad.mul(sub(1, output.mul(output)))],
);
export const GELU = unaryComposite("gelu", "GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))", (x) => {
  const inner = mul(add(x, mul(mul(mul(x, x), x), 0.044715)), Math.sqrt(2 / Math.PI));
  return mul(mul(x, 0.5), add(tanh(inner), 1));
});

/**
 * Identity in the forward pass, no gradient in the backward pass (PyTorch's `.detach()`, JAX's
 * `stop_gradient`). A composite, not a primitive, so the required op set does not grow: its
 * decomposition is the input itself, so lowering removes the node and no backend implements
 * anything, while autodiff (which keeps every composite that has a gradient rule) still sees it.
 */
export const STOP_GRADIENT = defineOp({
  name: "stopGradient",
  kind: "composite",
  doc: "identity forward, no gradient (detach)",
  infer: (inputs: readonly TypeInfo[]) => {
    expectArity(inputs, 1, "stopGradient");
    return inputs[0]!;
  },
  decompose: ([x]) => x!,
  grad: () => [undefined],
} satisfies CompositeOpDef);

export const stopGradient = (x: TensorLike): SymTensor => emitUnary(STOP_GRADIENT, x);
export const sigmoid = (x: TensorLike): SymTensor => emitUnary(SIGMOID, x);
export const silu = (x: TensorLike): SymTensor => emitUnary(SILU, x);
export const softplus = (x: TensorLike): SymTensor => emitUnary(SOFTPLUS, x);
export const tanh = (x: TensorLike): SymTensor => emitUnary(TANH, x);
export const gelu = (x: TensorLike): SymTensor => emitUnary(GELU, x);
export const relu = (x: TensorLike): SymTensor => maximum(x, 0);

function emitUnary(def: CompositeOpDef, x: TensorLike): SymTensor {
  const s = asSym(x);
  return s.builder.emit(def, [s]);
}

// ---- softmax family ----

function axisOp(name: string, doc: string, decompose: (x: SymTensor, axis: number) => SymTensor, grad: CompositeOpDef<{ axis: number }>["grad"]) {
  return defineOp({
    name,
    kind: "composite",
    doc,
    infer: (inputs: readonly TypeInfo[], attrs: { axis: number }) => {
      const x = sameAsInput(name)(inputs);
      normalizeAxis(attrs.axis, x.shape.length, name);
      return x;
    },
    decompose: ([x], attrs: { axis: number }) => decompose(x!, attrs.axis),
    ...(grad ? { grad } : {}),
  } satisfies CompositeOpDef<{ axis: number }>);
}

export const SOFTMAX = axisOp(
  "softmax",
  "e^x / sum(e^x) along an axis (max-subtracted)",
  (x, axis) => {
    const e = exp(sub(x, max(x, axis, true)));
    return e.div(sum(e, axis, true));
  },
  ({ grad, output, attrs }) => [output.mul(grad.sub(grad.mul(output).sum(attrs.axis, true)))],
);

export const LOG_SOFTMAX = axisOp(
  "logSoftmax",
  "x - logsumexp(x) along an axis",
  (x, axis) => {
    const shifted = sub(x, max(x, axis, true));
    return shifted.sub(log(sum(exp(shifted), axis, true)));
  },
  ({ grad, output, attrs }) => [grad.sub(exp(output).mul(grad.sum(attrs.axis, true)))],
);

export function softmax(x: TensorLike, axis = -1): SymTensor {
  const s = asSym(x);
  return s.builder.emit(SOFTMAX, [s], { axis: normalizeAxis(axis, s.rank, "softmax") });
}

export function logSoftmax(x: TensorLike, axis = -1): SymTensor {
  const s = asSym(x);
  return s.builder.emit(LOG_SOFTMAX, [s], { axis: normalizeAxis(axis, s.rank, "logSoftmax") });
}

// ---- cross-entropy ----

/**
 * Mean negative log-likelihood of int32 `labels` under `logits` [..., V]; positions whose label is
 * `ignoreIndex` (default -100, as in PyTorch) count neither in the sum nor in the mean.
 */
export const CROSS_ENTROPY = defineOp({
  name: "crossEntropy",
  kind: "composite",
  doc: "mean NLL of int32 labels under logits [..., V], ignoring ignoreIndex",
  infer: (inputs: readonly TypeInfo[]) => {
    const logits = input(inputs, 0, "crossEntropy");
    const labels = input(inputs, 1, "crossEntropy");
    expectFloat(logits, "crossEntropy", "logits");
    if (labels.dtype !== "int32") throw new DTypeError(`crossEntropy: labels must be int32, got ${labels.dtype}`);
    if (formatShape(logits.shape.slice(0, -1)) !== formatShape(labels.shape)) {
      throw new ShapeError(`crossEntropy: labels ${formatShape(labels.shape)} must match logits ${formatShape(logits.shape)} without the last axis`);
    }
    return { shape: [], dtype: logits.dtype };
  },
  decompose: ([logits, labels], attrs: { ignoreIndex: number }) => {
    const vocab = logits!.dim(-1);
    const classes = logits!.builder.constant(Tensor.int32(Array.from({ length: vocab }, (_, i) => i)));
    const onehot = equal(labels!.unsqueeze(-1), classes);
    const picked = sum(mul(logSoftmax(logits!, -1), onehot), -1);
    const valid = sub(1, equal(labels!, attrs.ignoreIndex));
    const count = maximum(sum(valid), 1);
    return neg(sum(mul(picked, valid))).div(count);
  },
} satisfies CompositeOpDef<{ ignoreIndex: number }>);

export function crossEntropy(logits: TensorLike, labels: TensorLike, options: { ignoreIndex?: number } = {}): SymTensor {
  const l = asSym(logits);
  return l.builder.emit(CROSS_ENTROPY, [l, asSym(labels)], { ignoreIndex: options.ignoreIndex ?? -100 });
}

// ---- normalisation ----

function checkNormWeights(inputs: readonly TypeInfo[], op: string): TypeInfo {
  const x = sameAsInput(op)(inputs);
  const features = x.shape[x.shape.length - 1];
  for (const w of inputs.slice(1)) {
    if (w.shape.length !== 1 || w.shape[0] !== features) throw new ShapeError(`${op}: weight/bias must have shape [${features}] to match input ${formatShape(x.shape)}, got ${formatShape(w.shape)}`);
  }
  return x;
}

/** x / sqrt(mean(x^2) + eps) * weight over the last axis (weight optional). */
export const RMSNORM = defineOp({
  name: "rmsnorm",
  kind: "composite",
  doc: "x * rsqrt(mean(x^2, -1) + eps) * weight",
  infer: (inputs: readonly TypeInfo[]) => checkNormWeights(inputs, "rmsnorm"),
  decompose: ([x, weight], attrs: { eps: number }) => {
    const normed = mul(x!, rsqrt(add(mean(mul(x!, x!), -1, true), attrs.eps)));
    return weight ? mul(normed, weight) : normed;
  },
} satisfies CompositeOpDef<{ eps: number }>);

/** (x - mean) / sqrt(var + eps) * weight + bias over the last axis (weight and bias optional). */
export const LAYERNORM = defineOp({
  name: "layerNorm",
  kind: "composite",
  doc: "(x - mean) * rsqrt(var + eps) * weight + bias",
  infer: (inputs: readonly TypeInfo[]) => checkNormWeights(inputs, "layerNorm"),
  decompose: ([x, weight, bias], attrs: { eps: number }) => {
    const centered = sub(x!, mean(x!, -1, true));
    let y = mul(centered, rsqrt(add(mean(mul(centered, centered), -1, true), attrs.eps)));
    if (weight) y = mul(y, weight);
    if (bias) y = add(y, bias);
    return y;
  },
} satisfies CompositeOpDef<{ eps: number }>);

export function rmsnorm(x: TensorLike, weight: TensorLike | undefined, eps = 1e-6): SymTensor {
  const s = asSym(x);
  return s.builder.emit(RMSNORM, weight === undefined ? [s] : [s, asSym(weight)], { eps });
}

export function layerNorm(x: TensorLike, weight?: TensorLike, bias?: TensorLike, eps = 1e-5): SymTensor {
  const s = asSym(x);
  const rest = [weight, bias].filter((t): t is TensorLike => t !== undefined).map(asSym);
  if (bias !== undefined && weight === undefined) throw new ShapeError("layerNorm: a bias needs a weight");
  return s.builder.emit(LAYERNORM, [s, ...rest], { eps });
}

// ---- depthwise causal convolution ----

export type CausalConv1dAttrs = { readonly history: boolean };

/**
 * Depthwise causal convolution over channels-last x [B, L, C] and w [C, K],
 * y[b, t, c] = bias[c] + Σ_j w[c, j] x[b, t − (K−1) + j, c]: PyTorch's Conv1d(groups=C,
 * padding=K−1) truncated to the first L outputs, as Mamba uses. Without `history`, the K−1 inputs
 * before x are zeros and y has x's length (a sequence from its start). With `history`, x's first
 * K−1 positions are those inputs (a decoder's convolution state followed by the new tokens) and y
 * holds only the L − (K−1) outputs after them: a decoding step costs one output, not K.
 */
export const CAUSAL_CONV1D = defineOp({
  name: "causalConv1d",
  kind: "composite",
  doc: "depthwise causal conv over [B, L, C] with weight [C, K] and optional bias [C]; with history, x's first K-1 positions only precede the outputs",
  infer: (inputs: readonly TypeInfo[], attrs: CausalConv1dAttrs) => {
    const x = sameAsInput("causalConv1d")(inputs);
    const w = input(inputs, 1, "causalConv1d");
    const c = x.shape[x.shape.length - 1];
    if (x.shape.length !== 3) throw new ShapeError(`causalConv1d: input must be [batch, length, channels], got ${formatShape(x.shape)}`);
    if (w.shape.length !== 2 || w.shape[0] !== c) throw new ShapeError(`causalConv1d: weight must be [${c}, kernel], got ${formatShape(w.shape)}`);
    const bias = inputs[2];
    if (bias && (bias.shape.length !== 1 || bias.shape[0] !== c)) throw new ShapeError(`causalConv1d: bias must be [${c}], got ${formatShape(bias.shape)}`);
    if (!attrs.history) return x;
    const [b, len] = x.shape as [number, number, number];
    const k = w.shape[1]!;
    if (len < k) throw new ShapeError(`causalConv1d: with history, the input must hold the ${k - 1} preceding positions and at least one more, got length ${len}`);
    return { ...x, shape: [b, len - (k - 1), c!] };
  },
  decompose: ([x, w, bias], attrs: CausalConv1dAttrs) => {
    const k = w!.dim(1);
    const padded = attrs.history ? x! : padAxis(x!, 1, k - 1, 0);
    const len = padded.dim(1) - (k - 1);
    let y: SymTensor | undefined;
    for (let j = 0; j < k; j++) {
      const term = mul(sliceAxis(padded, 1, j, j + len), sliceAxis(w!, 1, j, j + 1).reshape([w!.dim(0)]));
      y = y ? add(y, term) : term;
    }
    return bias ? add(y!, bias) : y!;
  },
} satisfies CompositeOpDef<CausalConv1dAttrs>);

/** See CAUSAL_CONV1D; `history: true` when x begins with the K−1 inputs that precede the outputs. */
export function causalConv1d(x: TensorLike, weight: TensorLike, bias?: TensorLike, options: { history?: boolean } = {}): SymTensor {
  const s = asSym(x);
  const inputs = [s, asSym(weight)];
  if (bias !== undefined) inputs.push(asSym(bias));
  return s.builder.emit(CAUSAL_CONV1D, inputs, { history: options.history ?? false });
}

// ---- helpers that are not ops of their own ----

export function mean(x: TensorLike, axes?: number | readonly number[], keepdims = false): SymTensor {
  const s = asSym(x);
  const total = sum(s, axes, keepdims);
  return mul(total, numel(total.shape) / numel(s.shape));
}

/** x @ weight^T + bias, with PyTorch's [out, in] weight layout. */
export function linear(x: TensorLike, weight: TensorLike, bias?: TensorLike): SymTensor {
  const y = matmul(x, asSym(weight).transpose());
  return bias === undefined ? y : add(y, bias);
}

/** A constant [0, 1, ..., n-1]. */
export function arange(n: number, dtype: "int32" | "float32" = "int32", builder = currentBuilder()): SymTensor {
  const values = Array.from({ length: n }, (_, i) => i);
  return builder.constant(dtype === "int32" ? Tensor.int32(values) : Tensor.float32(values));
}
