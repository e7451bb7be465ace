// The worked example of docs/writing-kernels.md: a fused elementwise kernel and a workgroup
// reduction, each defined once. Tests run them on the interpreter and compile their CUDA
// (packages/gpu/test/example.test.ts) and run them on WebGPU (packages/backend-webgpu/test/example.test.ts).
import { defineKernel, exp, f32, type Val } from "../src/index.js";

/**
 * y = silu(a) * b + c in one pass: the intermediates stay in registers. `n` is baked into the
 * source (one specialization per length); each invocation handles one element.
 */
export const siluMulAdd = defineKernel("example.siluMulAdd", (k, spec: { n: number }) => {
  const a = k.input("a", "f32");
  const b = k.input("b", "f32");
  const c = k.input("c", "f32");
  const y = k.output("y", "f32");
  const i = k.let("i", k.globalId.x);
  k.if(i.ge(spec.n), () => k.return()); // the last workgroup may run past the end
  const x = k.let("x", a.at(i));
  const silu = x.div(f32(1).add(exp(x.neg())));
  y.set(i, silu.mul(b.at(i)).add(c.at(i)));
});

/**
 * The sum of squares of each row of a [rows, cols] matrix: one workgroup per row. Each of the 64
 * invocations folds a strided part of the row, then the partial sums meet in a tree in workgroup
 * memory, halving the active invocations at each barrier. `cols` is a parameter (a uniform in
 * WGSL, an argument in CUDA), so one compiled kernel serves every width.
 */
export const rowSumSquares = defineKernel("example.rowSumSquares", (k, spec: { group: number }) => {
  k.workgroupSize(spec.group);
  const x = k.input("x", "f32");
  const y = k.output("y", "f32");
  const cols = k.param("cols", "u32");
  const part = k.shared("part", "f32", spec.group);
  const tid = k.localIndex;
  const row = k.let("row", k.groupId.x);
  const acc = k.var("acc", "f32", 0);
  k.range("j", tid, cols, (j) => {
    const v: Val<"f32"> = x.at(row.mul(cols).add(j));
    acc.set(acc.add(v.mul(v)));
  }, spec.group);
  part.set(tid, acc);
  k.barrier();
  for (let stride = spec.group / 2; stride >= 1; stride /= 2) {
    k.if(tid.lt(stride), () => part.set(tid, part.at(tid).add(part.at(tid.add(stride)))));
    k.barrier(); // every invocation reaches it: the branch above closed first
  }
  k.if(tid.eq(0), () => y.set(row, part.at(0)));
});
