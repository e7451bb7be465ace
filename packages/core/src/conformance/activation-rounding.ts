/**
 * How far a quantized product y = x Wᵀ that rounds its activations strays, as a fraction of what
 * that rounding allows (1 at most for a correct kernel). Integer kernels (backend-cpu's WASM SIMD,
 * onnxruntime's MatMulNBits) round each activation to a multiple of its block's max|x| / levels,
 * which moves an output by at most Σ_k |w_k| max|x|_block(k) / (2 levels); `slack` covers float
 * rounding on top. x [m, cols], w [n, cols] (dequantized), y [m, n], compared with the float64
 * product.
 */
export function worstOverRoundingBound(
  y: ArrayLike<number>,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  shape: { readonly m: number; readonly n: number; readonly cols: number },
  rounding: { readonly block: number; readonly levels: number; readonly slack?: number },
): number {
  const { m, n, cols } = shape;
  const { block, levels, slack = 0.01 } = rounding;
  let worst = 0;
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let exact = 0;
      let bound = 0;
      for (let b = 0; b < cols; b += block) {
        let max = 0;
        for (let k = b; k < Math.min(cols, b + block); k++) max = Math.max(max, Math.abs(x[i * cols + k]!));
        for (let k = b; k < Math.min(cols, b + block); k++) {
          exact += x[i * cols + k]! * w[j * cols + k]!;
          bound += (Math.abs(w[j * cols + k]!) * max) / (2 * levels);
        }
      }
      worst = Math.max(worst, Math.abs(y[i * n + j]! - exact) / (bound * (1 + slack) + 1e-6 * Math.max(1, Math.abs(exact))));
    }
  return worst;
}
