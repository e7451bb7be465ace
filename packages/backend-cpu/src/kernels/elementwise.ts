import { sameShape, Tensor, type AnyStorage } from "@densessm/core";
import { broadcastIndex } from "./indexing-maps.js";
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

/** Same-shape loop, and the broadcast loop through precomputed index maps. */
interface BinaryLoops {
  dense(a: AnyStorage, b: AnyStorage, o: AnyStorage, n: number): void;
  indexed(a: AnyStorage, b: AnyStorage, o: AnyStorage, ia: Int32Array, ib: Int32Array): void;
}

const BINARY: Record<string, BinaryLoops> = {
  add: {
    dense: (a, b, o, n) => { for (let i = 0; i < n; i++) o[i] = a[i]! + b[i]!; },
    indexed: (a, b, o, ia, ib) => { for (let i = 0; i < o.length; i++) o[i] = a[ia[i]!]! + b[ib[i]!]!; },
  },
  sub: {
    dense: (a, b, o, n) => { for (let i = 0; i < n; i++) o[i] = a[i]! - b[i]!; },
    indexed: (a, b, o, ia, ib) => { for (let i = 0; i < o.length; i++) o[i] = a[ia[i]!]! - b[ib[i]!]!; },
  },
  mul: {
    dense: (a, b, o, n) => { for (let i = 0; i < n; i++) o[i] = a[i]! * b[i]!; },
    indexed: (a, b, o, ia, ib) => { for (let i = 0; i < o.length; i++) o[i] = a[ia[i]!]! * b[ib[i]!]!; },
  },
  div: {
    dense: (a, b, o, n) => { for (let i = 0; i < n; i++) o[i] = a[i]! / b[i]!; },
    indexed: (a, b, o, ia, ib) => { for (let i = 0; i < o.length; i++) o[i] = a[ia[i]!]! / b[ib[i]!]!; },
  },
  maximum: {
    dense: (a, b, o, n) => { for (let i = 0; i < n; i++) { const x = a[i]!, y = b[i]!; o[i] = x > y || Number.isNaN(x) ? x : y; } },
    indexed: (a, b, o, ia, ib) => { for (let i = 0; i < o.length; i++) { const x = a[ia[i]!]!, y = b[ib[i]!]!; o[i] = x > y || Number.isNaN(x) ? x : y; } },
  },
  less: {
    dense: (a, b, o, n) => { for (let i = 0; i < n; i++) o[i] = a[i]! < b[i]! ? 1 : 0; },
    indexed: (a, b, o, ia, ib) => { for (let i = 0; i < o.length; i++) o[i] = a[ia[i]!]! < b[ib[i]!]! ? 1 : 0; },
  },
  equal: {
    dense: (a, b, o, n) => { for (let i = 0; i < n; i++) o[i] = a[i]! === b[i]! ? 1 : 0; },
    indexed: (a, b, o, ia, ib) => { for (let i = 0; i < o.length; i++) o[i] = a[ia[i]!]! === b[ib[i]!]! ? 1 : 0; },
  },
};

export const binaryKernel: KernelFactory = (node, [a, b]) => {
  const loops = BINARY[node.op]!;
  const size = node.shape.reduce((n, d) => n * d, 1);
  if (sameShape(a!.shape, node.shape) && sameShape(b!.shape, node.shape)) {
    return ([x, y], alloc) => {
      const o = alloc(node.dtype, size);
      loops.dense(x!.data, y!.data, o, size);
      return new Tensor(o, node.shape, node.dtype);
    };
  }
  const ia = broadcastIndex(a!.shape, node.shape);
  const ib = broadcastIndex(b!.shape, node.shape);
  return ([x, y], alloc) => {
    const o = alloc(node.dtype, size);
    loops.indexed(x!.data, y!.data, o, ia, ib);
    return new Tensor(o, node.shape, node.dtype);
  };
};

export const whereKernel: KernelFactory = (node, [c, a, b]) => {
  const ic = broadcastIndex(c!.shape, node.shape);
  const ia = broadcastIndex(a!.shape, node.shape);
  const ib = broadcastIndex(b!.shape, node.shape);
  return ([cond, x, y], alloc) => {
    const o = alloc(node.dtype, ic.length);
    const cd = cond!.data, xd = x!.data, yd = y!.data;
    for (let i = 0; i < o.length; i++) o[i] = cd[ic[i]!] !== 0 ? xd[ia[i]!]! : yd[ib[i]!]!;
    return new Tensor(o, node.shape, node.dtype);
  };
};
