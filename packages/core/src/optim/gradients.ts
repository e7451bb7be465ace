import { ShapeError } from "../errors.js";
import { formatShape } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";

/** Global L2 norm of all gradients. */
export function gradNorm(grads: ReadonlyMap<string, Tensor>): number {
  let sq = 0;
  for (const g of grads.values()) {
    const d = g.toFloat32();
    for (let i = 0; i < d.length; i++) sq += d[i]! * d[i]!;
  }
  return Math.sqrt(sq);
}

/** Scales gradients in place so their global norm is at most maxNorm; returns the norm before. */
export function clipGradNorm(grads: ReadonlyMap<string, Tensor>, maxNorm: number): number {
  const norm = gradNorm(grads);
  if (norm > maxNorm && norm > 0) {
    const scale = maxNorm / (norm + 1e-6);
    for (const g of grads.values()) {
      const d = g.data as Float32Array;
      for (let i = 0; i < d.length; i++) d[i]! *= scale;
    }
  }
  return norm;
}

/** Sums gradients over micro-batches; `mean()` gives the average to step with. */
export class GradientAccumulator {
  private sums = new Map<string, Float32Array>();
  private count = 0;

  add(grads: ReadonlyMap<string, Tensor>): void {
    for (const [name, g] of grads) {
      const d = g.toFloat32();
      let s = this.sums.get(name);
      if (!s) this.sums.set(name, (s = new Float32Array(d.length)));
      if (s.length !== d.length) throw new ShapeError(`gradient "${name}" changed size to ${formatShape(g.shape)}`);
      for (let i = 0; i < d.length; i++) s[i]! += d[i]!;
    }
    this.count++;
  }

  get microBatches(): number {
    return this.count;
  }

  /** The averaged gradients (shapes from `shapes`), and a reset. */
  mean(shapes: ReadonlyMap<string, readonly number[]>): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [name, s] of this.sums) {
      for (let i = 0; i < s.length; i++) s[i]! /= this.count;
      out.set(name, new Tensor(s, shapes.get(name) ?? [s.length], "float32"));
    }
    this.sums = new Map();
    this.count = 0;
    return out;
  }
}
