import { DenseSSMError, ShapeError } from "../errors.js";
import type { Parameter } from "../nn/parameter.js";
import { formatShape } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";

export interface AdamWOptions {
  lr?: number;
  betas?: readonly [number, number];
  eps?: number;
  /** Decoupled weight decay (Loshchilov & Hutter): p -= lr * weightDecay * p, separate from Adam's step. */
  weightDecay?: number;
  /** Which parameters skip weight decay; default: 1-D tensors (norm weights, biases). */
  decay?: (name: string, p: Parameter) => boolean;
}

export interface AdamWState {
  step: number;
  /** First and second moments by parameter name. */
  moments: Map<string, { m: Tensor; v: Tensor }>;
}

/**
 * AdamW on host float32 arrays, matching torch.optim.AdamW: bias-corrected moments and decoupled
 * weight decay. It updates parameter values in place and bumps their versions.
 */
export class AdamW {
  readonly lr: number;
  readonly betas: readonly [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  private readonly decay: (name: string, p: Parameter) => boolean;
  private state: AdamWState = { step: 0, moments: new Map() };

  constructor(
    private readonly params: readonly (readonly [string, Parameter])[],
    options: AdamWOptions = {},
  ) {
    this.lr = options.lr ?? 1e-3;
    this.betas = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.01;
    this.decay = options.decay ?? ((_name, p) => p.value.rank >= 2);
    for (const [name, p] of params) if (p.value.dtype !== "float32") throw new DenseSSMError(`AdamW: parameter "${name}" is ${p.value.dtype}; optimizers update float32 master weights`);
  }

  get stepCount(): number {
    return this.state.step;
  }

  /** One update from gradients by parameter name; `lr` overrides the base rate (for schedules). */
  step(grads: ReadonlyMap<string, Tensor>, lr = this.lr): void {
    const { state } = this;
    state.step++;
    const [b1, b2] = this.betas;
    const c1 = 1 - b1 ** state.step;
    const c2 = 1 - b2 ** state.step;
    for (const [name, p] of this.params) {
      if (!p.requiresGrad) continue;
      const g = grads.get(name);
      if (!g) continue;
      if (g.size !== p.value.size) throw new ShapeError(`AdamW: gradient for "${name}" has shape ${formatShape(g.shape)}, parameter has ${formatShape(p.shape)}`);
      let mom = state.moments.get(name);
      if (!mom) {
        mom = { m: Tensor.zeros(p.shape), v: Tensor.zeros(p.shape) };
        state.moments.set(name, mom);
      }
      const w = p.value.data as Float32Array;
      const gd = g.toFloat32();
      const m = mom.m.data as Float32Array;
      const v = mom.v.data as Float32Array;
      const decay = this.decay(name, p) ? 1 - lr * this.weightDecay : 1;
      for (let i = 0; i < w.length; i++) {
        const gi = gd[i]!;
        const mi = (m[i] = b1 * m[i]! + (1 - b1) * gi);
        const vi = (v[i] = b2 * v[i]! + (1 - b2) * gi * gi);
        w[i] = w[i]! * decay - (lr * (mi / c1)) / (Math.sqrt(vi / c2) + this.eps);
      }
      p.markUpdated();
    }
  }

  /** Moments and step, for checkpoints. */
  stateDict(): AdamWState {
    return { step: this.state.step, moments: new Map([...this.state.moments].map(([k, { m, v }]) => [k, { m: m.clone(), v: v.clone() }])) };
  }

  loadStateDict(state: AdamWState): void {
    for (const [name, { m }] of state.moments) {
      const p = this.params.find(([n]) => n === name)?.[1];
      if (!p) throw new DenseSSMError(`AdamW state has moments for unknown parameter "${name}"`);
      if (m.size !== p.value.size) throw new ShapeError(`AdamW state for "${name}" has shape ${formatShape(m.shape)}, parameter has ${formatShape(p.shape)}`);
    }
    this.state = { step: state.step, moments: new Map([...state.moments].map(([k, { m, v }]) => [k, { m: m.clone(), v: v.clone() }])) };
  }
}
