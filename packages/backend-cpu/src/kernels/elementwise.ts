import { numel, Tensor, type AnyStorage } from "@densessm/core";
import { broadcastStrides, runWalk, type RunWalk } from "./indexing-maps.js";
import type { KernelFactory } from "./types.js";

type Unary = (x: AnyStorage, o: AnyStorage, n: number) => void;

// One explicit loop per op keeps each loop monomorphic, which is what lets V8 make it fast.
const UNARY: Record<string, Unary> = {
  neg: (x, o, n) => { for (let i = 0; i < n; i++) o[i] = -x[i]!; },
  exp: (x, o, n) => { for (let i = 0; i < n; i++) o[i] = Math.exp(x[i]!); },
  log: (x, o, n) => { for (let i = 0; i < n; i++) o[i] = Math.log(x[i]!); },
  sin: (x, o, n) => { for (let i = 0; i < n; i++) o[i] = Math.sin(x[i]!); },
  cos: (x, o, n) => { for (let i = 0; i < n; i++) o[i] = Math.cos(x[i]!); },
  sqrt: (x, o, n) => { for (let i = 0; i < n; i++) o[i] = Math.sqrt(x[i]!); },
  recip: (x, o, n) => { for (let i = 0; i < n; i++) o[i] = 1 / x[i]!; },
};

export const unaryKernel: KernelFactory = (node) => {
  const loop = UNARY[node.op]!;
  return ([x], alloc) => {
    const o = alloc(node.dtype, x!.size);
    loop(x!.data, o, o.length);
    return new Tensor(o, node.shape, node.dtype);
  };
};

/**
 * One strided loop per op over a run walk (see runWalk): same-shape operands are a single run, a
 * broadcast operand a step of 0.
 */
type BinaryLoop = (a: AnyStorage, b: AnyStorage, o: AnyStorage, walk: RunWalk) => void;

const BINARY: Record<string, BinaryLoop> = {
  add: (a, b, o, { run, runs, steps: [sa, sb], offsets: [oa, ob] }) => {
    for (let r = 0, k = 0; r < runs; r++) for (let e = 0, i = oa![r]!, j = ob![r]!; e < run; e++, k++, i += sa!, j += sb!) o[k] = a[i]! + b[j]!;
  },
  sub: (a, b, o, { run, runs, steps: [sa, sb], offsets: [oa, ob] }) => {
    for (let r = 0, k = 0; r < runs; r++) for (let e = 0, i = oa![r]!, j = ob![r]!; e < run; e++, k++, i += sa!, j += sb!) o[k] = a[i]! - b[j]!;
  },
  mul: (a, b, o, { run, runs, steps: [sa, sb], offsets: [oa, ob] }) => {
    for (let r = 0, k = 0; r < runs; r++) for (let e = 0, i = oa![r]!, j = ob![r]!; e < run; e++, k++, i += sa!, j += sb!) o[k] = a[i]! * b[j]!;
  },
  div: (a, b, o, { run, runs, steps: [sa, sb], offsets: [oa, ob] }) => {
    for (let r = 0, k = 0; r < runs; r++) for (let e = 0, i = oa![r]!, j = ob![r]!; e < run; e++, k++, i += sa!, j += sb!) o[k] = a[i]! / b[j]!;
  },
  maximum: (a, b, o, { run, runs, steps: [sa, sb], offsets: [oa, ob] }) => {
    for (let r = 0, k = 0; r < runs; r++) {
      for (let e = 0, i = oa![r]!, j = ob![r]!; e < run; e++, k++, i += sa!, j += sb!) {
        const x = a[i]!, y = b[j]!;
        o[k] = x > y || Number.isNaN(x) ? x : y;
      }
    }
  },
  less: (a, b, o, { run, runs, steps: [sa, sb], offsets: [oa, ob] }) => {
    for (let r = 0, k = 0; r < runs; r++) for (let e = 0, i = oa![r]!, j = ob![r]!; e < run; e++, k++, i += sa!, j += sb!) o[k] = a[i]! < b[j]! ? 1 : 0;
  },
  equal: (a, b, o, { run, runs, steps: [sa, sb], offsets: [oa, ob] }) => {
    for (let r = 0, k = 0; r < runs; r++) for (let e = 0, i = oa![r]!, j = ob![r]!; e < run; e++, k++, i += sa!, j += sb!) o[k] = a[i]! === b[j]! ? 1 : 0;
  },
};

export const binaryKernel: KernelFactory = (node, [a, b]) => {
  const loop = BINARY[node.op]!;
  const size = numel(node.shape);
  const walk = runWalk(node.shape, [broadcastStrides(a!.shape, node.shape), broadcastStrides(b!.shape, node.shape)]);
  return ([x, y], alloc) => {
    const o = alloc(node.dtype, size);
    loop(x!.data, y!.data, o, walk);
    return new Tensor(o, node.shape, node.dtype);
  };
};

export const whereKernel: KernelFactory = (node, [c, a, b]) => {
  const { run, runs, steps: [sc, sa, sb], offsets: [oc, oa, ob] } = runWalk(
    node.shape,
    [c!, a!, b!].map((t) => broadcastStrides(t.shape, node.shape)),
  );
  return ([cond, x, y], alloc) => {
    const o = alloc(node.dtype, run * runs);
    const cd = cond!.data, xd = x!.data, yd = y!.data;
    for (let r = 0, k = 0; r < runs; r++) {
      for (let e = 0, h = oc![r]!, i = oa![r]!, j = ob![r]!; e < run; e++, k++, h += sc!, i += sa!, j += sb!) o[k] = cd[h] !== 0 ? xd[i]! : yd[j]!;
    }
    return new Tensor(o, node.shape, node.dtype);
  };
};
