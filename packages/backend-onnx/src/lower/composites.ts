import { attr, ELEM_TYPE } from "../onnx/model.js";
import { scalarOf, type LowerRule } from "./context.js";

/**
 * Composite ops that map onto a single standard ONNX op (or onnxruntime's contrib op), so
 * onnxruntime runs its fused kernel instead of the primitive decomposition.
 */

const single = (opType: string): LowerRule => ({ g, inputs, name }) => g.op(opType, [inputs[0]!], undefined, { name });

const axisOp = (opType: string): LowerRule => ({ g, node, inputs, name }) => g.op(opType, [inputs[0]!], { axis: attr.int(node.attrs.axis as number) }, { name });

/** Ones for a missing norm weight (ONNX's normalization ops require a scale). */
function scaleOrOnes(ctx: Parameters<LowerRule>[0]): string {
  const features = ctx.node.shape[ctx.node.shape.length - 1]!;
  return ctx.inputs[1] ?? scalarOf(ctx.g, ctx.node.dtype, 1, [features]);
}

export const COMPOSITE_RULES: Readonly<Record<string, LowerRule>> = {
  sigmoid: single("Sigmoid"),
  tanh: single("Tanh"),
  // Softplus in onnxruntime is the stable log1p form, matching the IR's decomposition.
  softplus: single("Softplus"),
  silu: ({ g, inputs, name }) => g.op("Mul", [inputs[0]!, g.op("Sigmoid", [inputs[0]!])], undefined, { name }),
  softmax: axisOp("Softmax"),
  logSoftmax: axisOp("LogSoftmax"),

  // LayerNormalization is standard since opset 17; RMS norm is onnxruntime's
  // SimplifiedLayerNormalization (a contrib op it registers in the ai.onnx domain).
  layerNorm: (ctx) => {
    const { g, node, inputs, name } = ctx;
    const rest = inputs[2] ? [inputs[2]] : [];
    return g.op("LayerNormalization", [inputs[0]!, scaleOrOnes(ctx), ...rest], { axis: attr.int(-1), epsilon: attr.float(node.attrs.eps as number) }, { name });
  },
  rmsnorm: (ctx) => {
    const { g, node, inputs, name } = ctx;
    return g.op("SimplifiedLayerNormalization", [inputs[0]!, scaleOrOnes(ctx)], { axis: attr.int(-1), epsilon: attr.float(node.attrs.eps as number) }, { name });
  },

  // Depthwise Conv over [B, C, L] with left padding K-1 is exactly the causal conv; with history
  // the input already begins with the K-1 preceding positions, so no padding.
  causalConv1d: ({ g, node, inputNodes, inputs, name }) => {
    const [x, w] = inputNodes as [(typeof inputNodes)[0], (typeof inputNodes)[0]];
    const [, , channels] = x!.shape as [number, number, number];
    const k = w!.shape[1]!;
    const xt = g.op("Transpose", [inputs[0]!], { perm: attr.ints([0, 2, 1]) });
    const weight = g.op("Reshape", [inputs[1]!, g.int64s([channels, 1, k])]);
    const conv = g.op("Conv", [xt, weight, ...(inputs[2] ? [inputs[2]] : [])], {
      group: attr.int(channels),
      kernel_shape: attr.ints([k]),
      pads: attr.ints([node.attrs.history ? 0 : k - 1, 0]),
    });
    return g.op("Transpose", [conv], { perm: attr.ints([0, 2, 1]) }, { name });
  },

  // SoftmaxCrossEntropyLoss sums the NLL of non-ignored rows; the mean divides by
  // max(count, 1) as the IR's decomposition does (0, not NaN, when every label is ignored).
  crossEntropy: ({ g, node, inputNodes, inputs, name }) => {
    const logits = inputNodes[0]!;
    const vocab = logits.shape[logits.shape.length - 1]!;
    const rows = logits.shape.slice(0, -1).reduce((n, d) => n * d, 1);
    const ignore = node.attrs.ignoreIndex as number;
    const scores = g.op("Reshape", [inputs[0]!, g.int64s([rows, vocab])]);
    const labels = g.op("Reshape", [inputs[1]!, g.int64s([rows])]);
    const total = g.op("SoftmaxCrossEntropyLoss", [scores, labels], { reduction: attr.string("sum"), ignore_index: attr.int(ignore) });
    const valid = g.op("Cast", [g.op("Not", [g.op("Equal", [labels, g.scalar("int32", ignore)])])], { to: attr.int(ELEM_TYPE.float32) });
    const count = g.op("Max", [g.op("ReduceSum", [valid], { keepdims: attr.int(0) }), g.scalar("float32", 1)]);
    return g.op("Div", [total, count], undefined, { name });
  },
};
