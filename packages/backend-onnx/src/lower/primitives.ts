import type { DType } from "@densessm/core";
import { attr, ELEM_TYPE } from "../onnx/model.js";
import { elemType, scalarOf, type LowerContext, type LowerRule } from "./context.js";
import { lowerRand } from "./rand.js";
import { lowerScan } from "./scan.js";

const numbers = (v: unknown): readonly number[] => v as readonly number[];

function unary(opType: string): LowerRule {
  return ({ g, inputs, name }) => g.op(opType, [inputs[0]!], undefined, { name });
}

function binary(opType: string): LowerRule {
  return ({ g, inputs, name }) => g.op(opType, [inputs[0]!, inputs[1]!], undefined, { name });
}

/** ONNX comparisons give bool; the IR's give float32 0/1 masks. */
function comparison(opType: string): LowerRule {
  return ({ g, inputs, name }) => g.op("Cast", [g.op(opType, [inputs[0]!, inputs[1]!])], { to: attr.int(ELEM_TYPE.float32) }, { name });
}

function reduction(opType: string): LowerRule {
  return ({ g, node, inputs, name }) => {
    const axes = numbers(node.attrs.axes);
    const keepdims = attr.int(node.attrs.keepdims ? 1 : 0);
    // An empty axes input means "reduce everything" in ONNX; in the IR it is the identity.
    if (axes.length === 0) return g.op("Identity", [inputs[0]!], undefined, { name });
    return g.op(opType, [inputs[0]!, g.int64s(axes)], { keepdims }, { name });
  };
}

/** scatterAdd(src, idx, axis, size): ScatterND with reduction "add" into zeros, rows leading. */
const scatterAdd: LowerRule = ({ g, node, inputNodes, inputs, name }) => {
  const [src, idx] = inputNodes as [LowerContext["node"], LowerContext["node"]];
  const axis = node.attrs.axis as number;
  const size = node.attrs.size as number;
  const pre = src.shape.slice(0, axis).reduce((n, d) => n * d, 1);
  const rows = idx.shape.reduce((n, d) => n * d, 1);
  const post = src.shape.slice(axis + idx.shape.length).reduce((n, d) => n * d, 1);
  const indices = g.op("Reshape", [g.op("Cast", [inputs[1]!], { to: attr.int(ELEM_TYPE.int64) }), g.int64s([rows, 1])]);
  // Rows of the update must be the leading axis for ScatterND: [rows, pre, post].
  const updates =
    pre === 1
      ? g.op("Reshape", [inputs[0]!, g.int64s([rows, 1, post])])
      : g.op("Transpose", [g.op("Reshape", [inputs[0]!, g.int64s([pre, rows, post])])], { perm: attr.ints([1, 0, 2]) });
  const zeros = g.op("ConstantOfShape", [g.int64s([size, pre, post])], {
    value: attr.tensor({ name: "zero", dtype: node.dtype, dims: [1], raw: new Uint8Array(node.dtype === "float16" || node.dtype === "bfloat16" ? 2 : 4) }),
  });
  let out = g.op("ScatterND", [zeros, indices, updates], { reduction: attr.string("add") });
  if (pre > 1) out = g.op("Transpose", [out], { perm: attr.ints([1, 0, 2]) });
  return g.op("Reshape", [out, g.int64s(node.shape)], undefined, { name });
};

const slice: LowerRule = ({ g, node, inputNodes, inputs, name }) => {
  const x = inputNodes[0]!;
  const starts = numbers(node.attrs.starts);
  const ends = numbers(node.attrs.ends);
  const axes = x.shape.map((_, i) => i).filter((i) => starts[i] !== 0 || ends[i] !== x.shape[i]);
  if (axes.length === 0) return g.op("Identity", [inputs[0]!], undefined, { name });
  return g.op("Slice", [inputs[0]!, g.int64s(axes.map((i) => starts[i]!)), g.int64s(axes.map((i) => ends[i]!)), g.int64s(axes)], undefined, { name });
};

const pad: LowerRule = ({ g, node, inputs, name }) => {
  const pads = numbers(node.attrs.pads);
  const rank = node.shape.length;
  // IR: [before, after] per axis; ONNX: all befores, then all afters.
  const onnxPads = [...Array.from({ length: rank }, (_, i) => pads[2 * i]!), ...Array.from({ length: rank }, (_, i) => pads[2 * i + 1]!)];
  return g.op("Pad", [inputs[0]!, g.int64s(onnxPads), scalarOf(g, node.dtype, node.attrs.value as number)], { mode: attr.string("constant") }, { name });
};

/** Lowering rules for the 29 primitives. */
export const PRIMITIVE_RULES: Readonly<Record<string, LowerRule>> = {
  neg: unary("Neg"),
  exp: unary("Exp"),
  log: unary("Log"),
  sin: unary("Sin"),
  cos: unary("Cos"),
  sqrt: unary("Sqrt"),
  recip: unary("Reciprocal"),
  add: binary("Add"),
  sub: binary("Sub"),
  mul: binary("Mul"),
  div: binary("Div"),
  maximum: binary("Max"),
  less: comparison("Less"),
  equal: comparison("Equal"),
  where: ({ g, inputs, name }) => g.op("Where", [g.op("Cast", [inputs[0]!], { to: attr.int(ELEM_TYPE.bool) }), inputs[1]!, inputs[2]!], undefined, { name }),
  sum: reduction("ReduceSum"),
  max: reduction("ReduceMax"),
  matmul: binary("MatMul"),
  reshape: ({ g, node, inputs, name }) => g.op("Reshape", [inputs[0]!, g.int64s(node.shape)], undefined, { name }),
  permute: ({ g, node, inputs, name }) => g.op("Transpose", [inputs[0]!], { perm: attr.ints(numbers(node.attrs.perm)) }, { name }),
  slice,
  expand: ({ g, node, inputs, name }) => g.op("Expand", [inputs[0]!, g.int64s(node.shape)], undefined, { name }),
  concat: ({ g, node, inputs, name }) => g.op("Concat", inputs, { axis: attr.int(node.attrs.axis as number) }, { name }),
  pad,
  gather: ({ g, node, inputs, name }) => g.op("Gather", [inputs[0]!, inputs[1]!], { axis: attr.int(node.attrs.axis as number) }, { name }),
  scatterAdd,
  cast: ({ g, node, inputs, name }) => g.op("Cast", [inputs[0]!], { to: attr.int(elemType(node.dtype as DType)) }, { name }),
  scan: ({ g, node, inputs, name }) =>
    lowerScan(g, { a: inputs[0]!, b: inputs[1]!, h0: inputs[2], shape: node.shape, axis: node.attrs.axis as number, reverse: node.attrs.reverse as boolean, dtype: node.dtype, name }),
  rand: ({ g, node, inputs, name }) => lowerRand(g, inputs[0]!, node.shape, name),
};
