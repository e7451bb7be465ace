import { DenseSSMError } from "@densessm/core";

/**
 * A linear probe by ridge regression onto one-hot targets (least-squares classification): which
 * token sits at a position, read linearly from a hidden state. Fitted in closed form,
 *
 *     W = (XᵀX + λ·tr(XᵀX)/D · I)⁻¹ XᵀY        X: centred features plus a bias column
 *
 * and scored by top-1 accuracy (argmax of xᵀW) on held-out rows. XᵀY is accumulated class by class,
 * so the vocabulary size costs nothing beyond W itself.
 */
export function linearProbeAccuracy(train: { features: Float32Array; labels: Int32Array }, test: { features: Float32Array; labels: Int32Array }, dim: number, ridge = 1e-2): number {
  const n = train.labels.length;
  if (n === 0 || test.labels.length === 0) throw new DenseSSMError("linear probe: needs training and test rows");
  if (train.features.length !== n * dim || test.features.length !== test.labels.length * dim) throw new DenseSSMError("linear probe: features and labels disagree in size");
  const classes = [...new Set(train.labels)].sort((a, b) => a - b);
  const column = new Map(classes.map((c, i) => [c, i]));
  const k = classes.length;
  const p = dim + 1; // a bias column
  const mu = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) mu[j]! += train.features[i * dim + j]! / n;
  const row = (features: Float32Array, i: number, out: Float64Array) => {
    for (let j = 0; j < dim; j++) out[j] = features[i * dim + j]! - mu[j]!;
    out[dim] = 1;
    return out;
  };
  const gram = new Float64Array(p * p);
  const xty = new Float64Array(p * k);
  const x = new Float64Array(p);
  for (let i = 0; i < n; i++) {
    row(train.features, i, x);
    for (let a = 0; a < p; a++) {
      const xa = x[a]!;
      for (let b = 0; b <= a; b++) gram[a * p + b]! += xa * x[b]!;
      xty[a * k + column.get(train.labels[i]!)!]! += xa;
    }
  }
  let trace = 0;
  for (let a = 0; a < dim; a++) trace += gram[a * p + a]!;
  const lambda = (ridge * trace) / dim || ridge;
  for (let a = 0; a < p; a++) {
    for (let b = 0; b < a; b++) gram[b * p + a] = gram[a * p + b]!;
    gram[a * p + a]! += lambda;
  }
  const w = choleskySolve(gram, xty, p, k);
  let correct = 0;
  const scores = new Float64Array(k);
  for (let i = 0; i < test.labels.length; i++) {
    row(test.features, i, x);
    scores.fill(0);
    for (let a = 0; a < p; a++) {
      const xa = x[a]!;
      if (xa === 0) continue;
      for (let c = 0; c < k; c++) scores[c]! += xa * w[a * k + c]!;
    }
    let best = 0;
    for (let c = 1; c < k; c++) if (scores[c]! > scores[best]!) best = c;
    if (classes[best] === test.labels[i]) correct++;
  }
  return correct / test.labels.length;
}

/** Solves A X = B for a symmetric positive-definite A (p × p) and B (p × k), in place of a copy. */
function choleskySolve(a: Float64Array, b: Float64Array, p: number, k: number): Float64Array {
  const l = new Float64Array(a);
  for (let j = 0; j < p; j++) {
    let d = l[j * p + j]!;
    for (let m = 0; m < j; m++) d -= l[j * p + m]! ** 2;
    if (!(d > 0)) throw new DenseSSMError("linear probe: the features' Gram matrix is not positive definite (raise the ridge)");
    const s = Math.sqrt(d);
    l[j * p + j] = s;
    for (let i = j + 1; i < p; i++) {
      let v = l[i * p + j]!;
      for (let m = 0; m < j; m++) v -= l[i * p + m]! * l[j * p + m]!;
      l[i * p + j] = v / s;
    }
  }
  const x = new Float64Array(b);
  for (let c = 0; c < k; c++) {
    for (let i = 0; i < p; i++) {
      let v = x[i * k + c]!;
      for (let m = 0; m < i; m++) v -= l[i * p + m]! * x[m * k + c]!;
      x[i * k + c] = v / l[i * p + i]!;
    }
    for (let i = p - 1; i >= 0; i--) {
      let v = x[i * k + c]!;
      for (let m = i + 1; m < p; m++) v -= l[m * p + i]! * x[m * k + c]!;
      x[i * k + c] = v / l[i * p + i]!;
    }
  }
  return x;
}
