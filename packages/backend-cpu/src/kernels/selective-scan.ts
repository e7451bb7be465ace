import { DTypeError, Tensor } from "@densessm/core";
import { expSimd } from "./exp-simd.js";
import type { KernelFactory } from "./types.js";

// Kernels for the mamba family's ops, keyed by op name (this package does not import mamba).

/** The SIMD path copies its operands into WebAssembly memory; beyond this it stays in JS. */
const MAX_SIMD_BYTES = 1 << 28;

/**
 * mamba.selectiveScan: h_t = exp(Δ_t A) h_(t−1) + Δ_t x_t B_t in one pass, carrying each
 * (row, channel)'s N states through the tokens with no [B, T, E, N] temporaries. delta [B, T, E],
 * A [E, N], B [B, T, N], x [B, T, E], optional h0 [B, E, N] → h [B, T, E, N].
 *
 * With WebAssembly SIMD and N a multiple of 4 it runs exp-simd.ts (a float32 exp, an
 * ulp or two from Math.exp); otherwise `scanJs`, which gives the decomposition's bits.
 */
export const selectiveScanKernel: KernelFactory = (node) => {
  const [batch, len, e, n] = node.shape as [number, number, number, number];
  if (node.dtype !== "float32") throw new DTypeError(`mamba.selectiveScan: backend-cpu computes it in float32, got ${node.dtype}`);
  const simd = n % 4 === 0 && batch * len * e * n > 0 ? expSimd() : null;
  // Operand offsets in the kernel's memory, in floats, each 16-byte aligned.
  const sizes = [batch * len * e, e * n, batch * len * n, batch * len * e, batch * e * n, batch * len * e * n];
  const offsets = sizes.map((_, i) => sizes.slice(0, i).reduce((at, size) => at + Math.ceil(size / 4) * 4, 0));
  const floats = offsets[5]! + sizes[5]!;
  const useSimd = simd !== null && floats * 4 <= MAX_SIMD_BYTES;
  return ([deltaIn, aIn, bIn, xIn, h0In], alloc) => {
    const delta = deltaIn!.data as Float32Array, A = aIn!.data as Float32Array;
    const B = bIn!.data as Float32Array, x = xIn!.data as Float32Array;
    const h0 = h0In?.data as Float32Array | undefined;
    const h = alloc("float32", batch * len * e * n) as Float32Array;
    if (useSimd) {
      const [oDelta, oA, oB, oX, oH0, oOut] = offsets as [number, number, number, number, number, number];
      const mem = simd.floats(floats);
      mem.set(delta, oDelta);
      mem.set(A, oA);
      mem.set(B, oB);
      mem.set(x, oX);
      if (h0) mem.set(h0, oH0);
      else mem.fill(0, oH0, oH0 + sizes[4]!);
      simd.scan(4 * oDelta, 4 * oA, 4 * oB, 4 * oX, 4 * oH0, 4 * oOut, batch, len, e, n / 4);
      h.set(mem.subarray(oOut, oOut + h.length));
    } else scanJs(delta, A, B, x, h0, h, [batch, len, e, n]);
    return new Tensor(h, node.shape, "float32");
  };
};

/**
 * The scan in JS, into h: each product, the exp and the multiply-add rounded to float32 where the
 * decomposition's kernels round them, so it gives the decomposition's bits.
 */
export function scanJs(delta: Float32Array, A: Float32Array, B: Float32Array, x: Float32Array, h0: Float32Array | undefined, h: Float32Array, [batch, len, e, n]: readonly [number, number, number, number]): void {
  const fround = Math.fround;
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < len; t++) {
      const token = b * len + t;
      for (let c = 0; c < e; c++) {
        const d = delta[token * e + c]!;
        const dx = fround(d * x[token * e + c]!);
        const out = (token * e + c) * n;
        // The previous token's states, h0's, or none (the scan's first step is then just Δ x B).
        const prev = t > 0 ? out - e * n : (b * e + c) * n;
        const from = t > 0 ? h : h0;
        for (let s = 0; s < n; s++) {
          const decay = fround(Math.exp(fround(d * A[c * n + s]!)));
          const input = fround(dx * B[token * n + s]!);
          h[out + s] = from ? decay * from[prev + s]! + input : input;
        }
      }
    }
  }
}
