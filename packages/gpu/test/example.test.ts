// The worked example of docs/writing-kernels.md on the interpreter, and its CUDA compiled.
import { describe, expect, it } from "vitest";
import { interpret } from "../src/index.js";
import { rowSumSquares, siluMulAdd } from "../examples/kernels.js";
import { findCudaCompiler } from "./cuda-compiler.js";

const compiler = await findCudaCompiler();
if (!compiler) console.warn("\n!!! CUDA COMPILE OF THE EXAMPLE NOT RUN: no nvcc and no NVRTC here (see cuda-compile.test.ts) !!!\n");

const n = 1000; // not a multiple of the workgroup size
const a = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 4);
const b = Float32Array.from({ length: n }, (_, i) => Math.cos(i));
const c = Float32Array.from({ length: n }, (_, i) => i / n);

describe("the worked example", () => {
  it("fused elementwise: silu(a) * b + c", () => {
    const y = new Float32Array(n);
    interpret(siluMulAdd.specialize({ n }), [a, b, c, y], [Math.ceil(n / 64), 1, 1]);
    for (let i = 0; i < n; i++) expect(y[i]).toBeCloseTo((a[i]! / (1 + Math.exp(-a[i]!))) * b[i]! + c[i]!, 5);
  });

  it("workgroup reduction: the sum of squares of each row", () => {
    const [rows, cols] = [3, 333];
    const y = new Float32Array(rows);
    interpret(rowSumSquares.specialize({ group: 64 }), [a.subarray(0, rows * cols), y], [rows, 1, 1], { params: Uint32Array.of(cols) });
    for (let r = 0; r < rows; r++) {
      const want = a.subarray(r * cols, (r + 1) * cols).reduce((s, v) => s + v * v, 0);
      expect(y[r]! / want).toBeCloseTo(1, 5);
    }
  });

  it.skipIf(!compiler)(`compiles as CUDA for sm_80 (${compiler?.description ?? "no compiler"})`, () => {
    const unit = [siluMulAdd.specialize({ n }).cuda, rowSumSquares.specialize({ group: 64 }).cuda].join("\n");
    expect(compiler!.compile(unit, "sm_80")).toBe("");
  });
});
