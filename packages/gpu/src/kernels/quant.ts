import { numel, quantizedLayout, type QuantAttrs } from "@densessm/core";
import type { Memory } from "../lang/builder.js";
import { defineKernel } from "../lang/kernel.js";
import { elementIndex, guard } from "../lang/std.js";
import { byteAt, codeInput, quantWeight, signed, type CodeFormat } from "./codes.js";
import { aroundAxis, elementGrid, grid } from "./grid.js";
import { MATVEC_ROWS, tiledPlan } from "./matmul.js";
import { single, type KernelFactory } from "./types.js";

// Quantized weights (core's `quantizedMatmul` and `dequantize`) read in their stored bytes (see
// codes.ts), so a decode step streams 1 (int8) or 0.5 + 2/group (4-bit) bytes per weight and
// dequantizes in registers.

/** codes [..., rows, rowBytes] and scale [..., rows, groups] → float32 [..., rows, cols], one element per invocation. */
const dequantizeKernel = defineKernel("quant.dequantize", (k, spec: CodeFormat & { readonly n: number; readonly cols: number }) => {
  const codes = codeInput(k, spec.bytes);
  const scale = k.input("scale", "f32");
  const y = k.output("y", "f32");
  const i = elementIndex(k);
  guard(k, i, spec.n);
  const weight = quantWeight(codes, scale, spec, spec.cols);
  y.set(i, weight(k.let("row", i.div(spec.cols)), k.let("col", i.rem(spec.cols))));
});

type MatvecSpec = CodeFormat & {
  /** Rows of x (at most MATVEC_ROWS), output rows (W's rows), and columns. */
  readonly m: number;
  readonly n: number;
  readonly cols: number;
  /** "workgroup": 64 invocations per output row and a tree; "thread": one invocation per output row. */
  readonly form: "workgroup" | "thread";
};

const REDUCE = 64;

/**
 * y[r, row] = Σ_col x[r, col] W[row, col] for up to 8 rows of x (decoding), dequantizing in
 * registers. When a row's codes are whole u32 words and no word straddles two groups (every model
 * shape: int8 rows of a multiple of 4 columns, 4-bit groups of 32, 64 or 128), each step reads one
 * word — 4 int8 or 8 4-bit codes — multiplies its codes with x, and scales the word's partial sum
 * once; consecutive invocations of a workgroup read consecutive words (256 bytes per pass).
 * Otherwise each step reads one column's code. The sums differ from the reference decomposition's
 * (dequantize, then matmul) only by float32 rounding: the scale multiplies a partial sum instead of
 * each weight.
 */
const matvecKernel = defineKernel("quant.matvec", (k, spec: MatvecSpec) => {
  const wg = spec.form === "workgroup";
  if (wg) k.workgroupSize(REDUCE);
  const x = k.input("x", "f32");
  const codes = codeInput(k, spec.bytes);
  const scale = k.input("scale", "f32");
  const y = k.output("y", "f32");
  const { groups, rowBytes } = quantizedLayout(spec, 1, spec.cols);
  const perWord = spec.bits === 8 ? 4 : 8;
  const words = rowBytes % 4 === 0 && spec.bytes && spec.groupSize % perWord === 0;
  const part = wg ? k.shared("part", "f32", REDUCE * spec.m) : undefined;
  const row = wg ? k.let("row", k.groupId.x.add(k.groupId.y.mul(65535))) : k.let("row", k.globalId.x);
  k.if(row.ge(spec.n), () => k.return());
  const tid = k.localIndex;
  const rows = [...Array(spec.m).keys()];
  const acc = rows.map((r) => k.var(`acc${r}`, "f32", 0));
  const [start, step] = wg ? [tid, REDUCE] : [0, 1];
  if (words) {
    const wordsPerRow = rowBytes / 4;
    const wordsPerGroup = spec.groupSize / 8; // 4-bit
    const padded = groups * spec.groupSize !== spec.cols;
    k.range("w", start, wordsPerRow, (w) => {
      const word = k.let("word", (codes as Memory<"u32">).at(row.mul(wordsPerRow).add(w)));
      const c0 = k.let("c0", w.mul(perWord));
      const sums = rows.map((r) => k.var(`sum${r}`, "f32", 0));
      for (let j = 0; j < perWord; j++) {
        const code = spec.bits === 8 ? signed(word.shr(8 * j).and(255)).f32() : word.shr(4 * j).and(15).i32().sub(8).f32();
        const c = k.let(`v${j}`, code);
        const accumulate = () => rows.forEach((r) => sums[r]!.set(sums[r]!.add(x.at(c0.add(r * spec.cols + j)).mul(c))));
        // Only the zero-padded last group of a 4-bit row has columns past the row's end.
        if (padded) k.if(c0.add(j).lt(spec.cols), accumulate);
        else accumulate();
      }
      const s = k.let("s", scale.at(spec.bits === 8 ? row : row.mul(groups).add(wordsPerGroup === 1 ? w : w.div(wordsPerGroup))));
      rows.forEach((r) => acc[r]!.set(acc[r]!.add(sums[r]!.mul(s))));
    }, step);
  } else {
    const weight = quantWeight(codes, scale, spec, spec.cols);
    k.range("col", start, spec.cols, (col) => {
      const v = k.let("v", weight(row, col));
      rows.forEach((r) => acc[r]!.set(acc[r]!.add(x.at(col.add(r * spec.cols)).mul(v))));
    }, step);
  }
  const out = (r: number) => row.add(r * spec.n);
  if (!part) {
    rows.forEach((r) => y.set(out(r), acc[r]!));
    return;
  }
  rows.forEach((r) => part.set(tid.add(r * REDUCE), acc[r]!));
  k.barrier();
  for (let s = REDUCE / 2; s >= 1; s /= 2) {
    k.if(tid.lt(s), () => rows.forEach((r) => part.set(tid.add(r * REDUCE), part.at(tid.add(r * REDUCE)).add(part.at(tid.add(r * REDUCE + s))))));
    k.barrier();
  }
  k.if(tid.eq(0), () => rows.forEach((r) => y.set(out(r), part.at(r * REDUCE))));
});

const codeFormat = (attrs: QuantAttrs, codes: { dtype: string }): CodeFormat => ({ bits: attrs.bits, groupSize: attrs.groupSize, bytes: codes.dtype !== "int32" });

/**
 * x [..., M, cols] @ Wᵀ for quantized W: every leading axis of x folds into M (W is one matrix).
 * Up to 8 rows (decoding) run the matrix-vector kernel; more (prefill) run the float tiled kernel
 * reading W through `quantWeight`, so each tile is dequantized once into workgroup memory and the
 * products equal the decomposition's bit for bit.
 */
export const quantizedMatmulNode: KernelFactory = (node, [x, codes], ctx) => {
  const attrs = node.attrs as QuantAttrs;
  const n = codes!.shape[0]!;
  const m = numel(x!.shape) / attrs.cols;
  const format = codeFormat(attrs, codes!);
  if (m <= MATVEC_ROWS) {
    const spec: MatvecSpec = { ...format, m, n, cols: attrs.cols, form: ctx.matvec };
    const groups = ctx.matvec === "workgroup" ? grid(n) : ([Math.ceil(n / 64), 1, 1] as [number, number, number]);
    return single(matvecKernel.specialize(spec), groups, 3);
  }
  return tiledPlan({ transB: true, packed: false, quant: format.bits === 8 ? { ...format, groupSize: 0 } : format }, 1, m, attrs.cols, n, { shape: [], aStrides: [], bStrides: [] });
};

export const dequantizeNode: KernelFactory = (node, [codes]) => {
  const attrs = node.attrs as QuantAttrs;
  const n = numel(node.shape);
  return single(dequantizeKernel.specialize({ ...codeFormat(attrs, codes!), n, cols: attrs.cols }), elementGrid(n), 2);
};

// ---- bytes: gather, and the executor's conversions to and from i32 words ----

/** take(x, idx, axis) of a byte tensor: one output word (four bytes) per invocation. */
const gatherBytesKernel = defineKernel("quant.gatherBytes", (k, spec: { n: number; size: number; inner: number; count: number }) => {
  const x = k.input("x", "u32");
  const idx = k.input("idx", "i32");
  const y = k.output("y", "u32");
  const w = elementIndex(k);
  guard(k, w, Math.ceil(spec.n / 4));
  const word = k.var("word", "u32", 0);
  for (let j = 0; j < 4; j++) {
    const i = k.let("i", w.mul(4).add(j));
    k.if(i.lt(spec.n), () => {
      const q = k.let("q", i.rem(spec.inner));
      const p = k.let("p", i.div(spec.inner * spec.count));
      const v = k.let("v", idx.at(i.div(spec.inner).rem(spec.count)).clamp(0, Math.max(spec.size - 1, 0)).u32());
      word.set(word.or(byteAt(x, p.mul(spec.size).add(v).mul(spec.inner).add(q)).shl(8 * j)));
    });
  }
  y.set(w, word);
});

export const gatherBytesNode: KernelFactory = (node, [x, idx]) => {
  const [, size, inner] = aroundAxis(x!.shape, node.attrs.axis as number);
  const n = numel(node.shape);
  return single(gatherBytesKernel.specialize({ n, size, inner, count: numel(idx!.shape) }), elementGrid(Math.ceil(n / 4)), 2);
};

/** The executor's op widening a byte tensor to one i32 per element, for ops with no byte kernel. */
export const WIDEN_BYTES = "gpu.widenBytes";
/** The executor's op packing i32 words back into bytes (an int8/uint8 graph output computed widened). */
export const PACK_BYTES = "gpu.packBytes";

const widenKernel = defineKernel("quant.widenBytes", (k, spec: { n: number; signed: boolean }) => {
  const x = k.input("x", "u32");
  const y = k.output("y", "i32");
  const i = elementIndex(k);
  guard(k, i, spec.n);
  const byte = byteAt(x, i);
  y.set(i, spec.signed ? signed(byte) : byte.i32());
});

const packKernel = defineKernel("quant.packBytes", (k, spec: { n: number }) => {
  const x = k.input("x", "i32");
  const y = k.output("y", "u32");
  const w = elementIndex(k);
  guard(k, w, Math.ceil(spec.n / 4));
  const word = k.var("word", "u32", 0);
  for (let j = 0; j < 4; j++) {
    const i = k.let("i", w.mul(4).add(j));
    k.if(i.lt(spec.n), () => word.set(word.or(x.at(i).u32().and(255).shl(8 * j))));
  }
  y.set(w, word);
});

export const widenBytesNode: KernelFactory = (node, [x]) => {
  const n = numel(node.shape);
  return single(widenKernel.specialize({ n, signed: x!.dtype === "int8" }), elementGrid(n), 1);
};

export const packBytesNode: KernelFactory = (node) => {
  const n = numel(node.shape);
  return single(packKernel.specialize({ n }), elementGrid(Math.ceil(n / 4)), 1);
};
