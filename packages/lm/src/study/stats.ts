import { DenseSSMError } from "@densessm/core";

// The statistics a study reports: mean ± sample standard deviation over seeds, and paired
// differences with a Student-t confidence interval (each seed is one pair: same initialisation
// seed and the same batches for both configurations).

export const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Sample standard deviation (n − 1); 0 for fewer than two values. */
export function std(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}

/** A paired difference a − b over the same seeds, with its two-sided confidence interval. */
export interface PairedDifference {
  /** Per-seed differences, in seed order. */
  differences: number[];
  mean: number;
  /** The interval's half-width: t(1 − α/2, n − 1) · sd / √n (Infinity for a single pair). */
  halfWidth: number;
  low: number;
  high: number;
  level: number;
}

export function pairedDifference(a: readonly number[], b: readonly number[], level = 0.95): PairedDifference {
  if (a.length !== b.length || a.length === 0) throw new DenseSSMError(`a paired difference needs equally many values on each side, got ${a.length} and ${b.length}`);
  const differences = a.map((x, i) => x - b[i]!);
  const m = mean(differences);
  const n = differences.length;
  const halfWidth = n < 2 ? Infinity : studentTQuantile(1 - (1 - level) / 2, n - 1) * (std(differences) / Math.sqrt(n));
  return { differences, mean: m, halfWidth, low: m - halfWidth, high: m + halfWidth, level };
}

/** The p-quantile of Student's t distribution with `dof` degrees of freedom (p in (0.5, 1)). */
export function studentTQuantile(p: number, dof: number): number {
  if (!(p > 0.5 && p < 1) || !(dof > 0)) throw new DenseSSMError(`studentTQuantile: need 0.5 < p < 1 and dof > 0, got p = ${p}, dof = ${dof}`);
  // P(T ≤ t) = 1 − I_{dof/(dof + t²)}(dof/2, 1/2) / 2 for t ≥ 0; increasing in t, so bisect.
  const cdf = (t: number) => 1 - 0.5 * incompleteBeta(dof / (dof + t * t), dof / 2, 0.5);
  let lo = 0;
  let hi = 1;
  while (cdf(hi) < p) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (cdf(mid) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** The regularized incomplete beta function I_x(a, b), by its continued fraction (modified Lentz). */
function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  // The fraction converges fast for x < (a + 1) / (a + b + 2); use the symmetry otherwise.
  if (x > (a + 1) / (a + b + 2)) return 1 - incompleteBeta(1 - x, b, a);
  const front = Math.exp(a * Math.log(x) + b * Math.log(1 - x) - logBeta(a, b)) / a;
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  d = 1 / (Math.abs(d) < tiny ? tiny : d);
  let f = d;
  for (let m = 1; m <= 300; m++) {
    for (const numerator of [(m * (b - m) * x) / ((a + 2 * m - 1) * (a + 2 * m)), -((a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1))]) {
      d = 1 + numerator * d;
      d = 1 / (Math.abs(d) < tiny ? tiny : d);
      c = 1 + numerator / c;
      if (Math.abs(c) < tiny) c = tiny;
      f *= c * d;
    }
    if (Math.abs(c * d - 1) < 1e-15) break;
  }
  return front * f;
}

function logBeta(a: number, b: number): number {
  return logGamma(a) + logGamma(b) - logGamma(a + b);
}

/** ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9; ~1e-15 relative). */
function logGamma(x: number): number {
  const g = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let s = g[0]!;
  for (let i = 1; i < 9; i++) s += g[i]! / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(s);
}
