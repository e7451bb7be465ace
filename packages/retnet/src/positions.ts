import { Tensor } from "@densessm/core";

/**
 * Position-dependent constants of retention, computed on the host in float64 and stored as float32.
 *
 * Theta shift (xPos-free rotary): per-head key width d has d/2 frequencies
 *     ω_j = 1 / 10000^(j / (d/2 - 1)),  j = 0 .. d/2-1      (torch.linspace(0, 1, d/2))
 * each repeated for the two members of an interleaved pair, so position t rotates pair (2j, 2j+1)
 * by angle t·ω_j. Decay per head h: γ_h = 1 - 2^(-5-h) (torchscale's RetNetRelPos), which
 * DenseGAU-RetNet and classic RetNet both use (see denseGauDecays).
 */
export function thetaAngles(keyDim: number): Float64Array {
  const half = keyDim / 2;
  const out = new Float64Array(keyDim);
  for (let j = 0; j < half; j++) {
    const e = half === 1 ? 0 : j / (half - 1);
    const w = 1 / Math.pow(10000, Math.fround(e));
    out[2 * j] = w;
    out[2 * j + 1] = w;
  }
  return out;
}

/** sin and cos of t·ω for positions start .. start+len-1: two [len, keyDim] tensors. */
export function thetaTables(keyDim: number, start: number, len: number): { sin: Tensor; cos: Tensor } {
  const angles = thetaAngles(keyDim);
  const sin = new Float32Array(len * keyDim);
  const cos = new Float32Array(len * keyDim);
  for (let t = 0; t < len; t++) {
    for (let j = 0; j < keyDim; j++) {
      const a = Math.fround(Math.fround(start + t) * Math.fround(angles[j]!));
      sin[t * keyDim + j] = Math.sin(a);
      cos[t * keyDim + j] = Math.cos(a);
    }
  }
  return { sin: new Tensor(sin, [len, keyDim], "float32"), cos: new Tensor(cos, [len, keyDim], "float32") };
}

/** γ_h = 1 - 2^(-5-h): the per-head decays of both DenseGAU-RetNet and classic RetNet. */
export function denseGauDecays(numHeads: number): number[] {
  return Array.from({ length: numHeads }, (_, h) => 1 - Math.pow(2, -5 - h));
}

/** c_t = Σ_{j=0..t} γ^j: the running scale whose square root normalises retention at position t. */
export function runningScale(gamma: number, t: number): number {
  return (1 - Math.pow(gamma, t + 1)) / (1 - gamma);
}

/**
 * The parallel form's decay mask D[h, t, s] = γ_h^(t-s) / sqrt(c_t) for s ≤ t, else 0 — the
 * official code's exp((t-s)·log γ) mask divided by the square root of its row sums.
 */
export function parallelDecayMask(gammas: readonly number[], len: number): Tensor {
  const h = gammas.length;
  const data = new Float32Array(h * len * len);
  for (let i = 0; i < h; i++) {
    const logG = Math.log(Math.fround(gammas[i]!));
    // exp(k·log γ) once per lag k: O(L) exponentials instead of O(L²), with the very same values.
    const power = Float64Array.from({ length: len }, (_, k) => Math.exp(k * logG));
    for (let t = 0; t < len; t++) {
      let rowSum = 0;
      for (let k = t; k >= 0; k--) rowSum += power[k]!; // s = 0 .. t, summed in that order
      const inv = 1 / Math.sqrt(rowSum);
      const row = (i * len + t) * len;
      for (let s = 0; s <= t; s++) data[row + s] = power[t - s]! * inv;
    }
  }
  return new Tensor(data, [h, len, len], "float32");
}

/**
 * Per-step factors of the recurrent form for positions start .. start+len-1, as [len, H] tensors:
 * the state update S_t = carry_t · S_(t-1) + inject_t · k_t v_tᵀ keeps S_t = Σ_s γ^(t-s) k_s v_sᵀ / sqrt(c_t),
 * with carry_t = γ sqrt(c_(t-1)/c_t) and inject_t = 1/sqrt(c_t) (the official running scale).
 */
export function recurrentFactors(gammas: readonly number[], start: number, len: number): { carry: Tensor; inject: Tensor } {
  const h = gammas.length;
  const carry = new Float32Array(len * h);
  const inject = new Float32Array(len * h);
  for (let t = 0; t < len; t++) {
    for (let i = 0; i < h; i++) {
      const g = Math.fround(gammas[i]!);
      const pos = start + t;
      const c = runningScale(g, pos);
      carry[t * h + i] = pos === 0 ? 0 : g * Math.sqrt(runningScale(g, pos - 1) / c);
      inject[t * h + i] = 1 / Math.sqrt(c);
    }
  }
  return { carry: new Tensor(carry, [len, h], "float32"), inject: new Tensor(inject, [len, h], "float32") };
}

/**
 * The official RetNetRelPos buffers in float32: `angle` [dk], the theta-shift frequencies with each
 * repeated for its pair, and `decay` [H], log γ_h.
 */
export function relPosBuffers(keyDim: number, gammas: readonly number[]): { angle: Tensor; decay: Tensor } {
  return { angle: Tensor.float32(thetaAngles(keyDim)), decay: Tensor.float32(gammas.map((g) => Math.log(g))) };
}
