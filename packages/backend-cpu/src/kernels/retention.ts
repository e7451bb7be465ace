import { DTypeError, Tensor } from "@densessm/core";
import type { KernelFactory } from "./types.js";

// Kernels for the retnet family's ops, keyed by op name (this package does not import retnet).

/**
 * retnet.retentionStep: S' = carry · S + kᵀ v for one decoding token, in one pass over the
 * [dk, dv] states (the decomposition makes several). k [B, H, 1, dk], v [B, H, 1, dv],
 * state [B, H, dk, dv], carry [B, H] → [B, H, dk, dv]. Each product and the sum are rounded to
 * float32 as the decomposition's mul and add kernels round them, so both give the same bits.
 */
export const retentionStepKernel: KernelFactory = (node) => {
  const [b, h, dk, dv] = node.shape as [number, number, number, number];
  // Graphs compute in float32; a float16 state here would be a model's mistake, not a slow path.
  if (node.dtype !== "float32") throw new DTypeError(`retnet.retentionStep: backend-cpu computes it in float32, got ${node.dtype}`);
  return ([kIn, vIn, stateIn, carryIn], alloc) => {
    const k = kIn!.data as Float32Array, v = vIn!.data as Float32Array;
    const s = stateIn!.data as Float32Array, carry = carryIn!.data as Float32Array;
    const o = alloc("float32", s.length) as Float32Array;
    const fround = Math.fround;
    for (let p = 0; p < b * h; p++) {
      const c = carry[p]!;
      const vBase = p * dv;
      for (let i = 0; i < dk; i++) {
        const ki = k[p * dk + i]!;
        const row = (p * dk + i) * dv;
        for (let j = 0; j < dv; j++) o[row + j] = fround(c * s[row + j]!) + fround(ki * v[vBase + j]!);
      }
    }
    return new Tensor(o, node.shape, "float32");
  };
};
