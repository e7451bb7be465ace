import { float16BitsToFloat32, float32ToFloat16Bits } from "@densessm/core";
import { KernelError } from "../lang/errors.js";
import type { AtomicOp } from "../lang/ir.js";

// What interpreted kernels call for the operations JavaScript has no operator for, and the
// debug-mode checks. Errors inside an invocation are InvocationFaults; the dispatch loop adds the
// workgroup and invocation and turns them into KernelErrors naming the kernel.

/** A fault of one invocation; `locate` turns it into a KernelError with where it happened. */
export class InvocationFault extends Error {
  invocation: readonly number[] | undefined;
}

type Indexed = { length: number; [i: number]: number };

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

const describe = (name: string, arr: Indexed) => `"${name}" (${arr.length} elements)`;

function checkIndex(arr: Indexed, i: number, name: string, what: string): void {
  if (!(i >= 0 && i < arr.length)) throw new InvocationFault(`out-of-bounds ${what} of ${name}[${i}]: ${describe(name, arr)}`);
}

export const HELPERS = {
  /** WGSL integer division: x / 0 = x, and the most negative i32 / -1 = itself. */
  idiv: (a: number, b: number): number => (b === 0 ? a : (a / b) | 0),
  irem: (a: number, b: number): number => (b === 0 ? 0 : a % b | 0),
  udiv: (a: number, b: number): number => (b === 0 ? a : (a / b) >>> 0),
  urem: (a: number, b: number): number => (b === 0 ? 0 : a % b >>> 0),
  /** f32 -> i32: toward zero, saturating, NaN -> 0 (WGSL; CUDA's __float2int_rz). */
  floatToI32: (x: number): number => (x !== x ? 0 : x >= 2147483647 ? 2147483647 : x <= -2147483648 ? -2147483648 : Math.trunc(x) | 0),
  floatToU32: (x: number): number => (x !== x || x <= 0 ? 0 : x >= 4294967295 ? 4294967295 : Math.trunc(x) >>> 0),
  floatBits(x: number): number {
    f32[0] = x;
    return u32[0]!;
  },
  bitsFloat(bits: number): number {
    u32[0] = bits;
    return f32[0]!;
  },
  floatToHalf: float32ToFloat16Bits,
  halfToFloat: float16BitsToFloat32,
  /** Round half to even (WGSL round, CUDA rintf). */
  roundEven: (x: number): number => (Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : Math.round(x)),

  load(arr: Indexed, i: number, name: string): number {
    checkIndex(arr, i, name, "read");
    return arr[i]!;
  },
  store(arr: Indexed, i: number, v: number, name: string): void {
    checkIndex(arr, i, name, "write");
    arr[i] = v;
  },
  loadShared(arr: Indexed, init: Uint8Array, i: number, name: string): number {
    checkIndex(arr, i, name, "read");
    if (!init[i]) throw new InvocationFault(`read of uninitialised workgroup memory ${name}[${i}]`);
    return arr[i]!;
  },
  storeShared(arr: Indexed, init: Uint8Array, i: number, v: number, name: string): void {
    checkIndex(arr, i, name, "write");
    init[i] = 1;
    arr[i] = v;
  },
  /** An atomic read-modify-write (the interpreter runs one invocation at a time): returns the old value. */
  atomic(arr: Indexed, init: Uint8Array | undefined, i: number, v: number, op: AtomicOp, name: string, debug: boolean): number {
    if (debug) {
      checkIndex(arr, i, name, `atomic ${op}`);
      if (init && !init[i] && op !== "exchange") throw new InvocationFault(`atomic ${op} on uninitialised workgroup memory ${name}[${i}]`);
    }
    if (init) init[i] = 1;
    const old = arr[i]!;
    switch (op) {
      case "add": arr[i] = old + v; break;
      case "sub": arr[i] = old - v; break;
      case "max": arr[i] = Math.max(old, v); break;
      case "min": arr[i] = Math.min(old, v); break;
      case "and": arr[i] = old & v; break;
      case "or": arr[i] = old | v; break;
      case "xor": arr[i] = old ^ v; break;
      case "exchange": arr[i] = v; break;
    }
    return old;
  },
  /** A fault as a KernelError naming the kernel, the workgroup and the invocation. */
  locate(e: unknown, kernel: string, group: readonly number[], local?: readonly number[]): unknown {
    if (!(e instanceof InvocationFault)) return e;
    const at = e.invocation ?? local;
    return new KernelError(`kernel "${kernel}": ${e.message} in workgroup (${group.join(", ")})${at ? `, invocation (${at.join(", ")})` : ""}`);
  },
};

export type Helpers = typeof HELPERS;
