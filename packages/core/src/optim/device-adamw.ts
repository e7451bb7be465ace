import type { DeviceTensor } from "../backend/backend.js";
import { DenseSSMError, ShapeError } from "../errors.js";
import type { Graph } from "../graph/graph.js";
import { trace, type SymTensor } from "../graph/symbolic.js";
import type { Parameter } from "../nn/parameter.js";
import { where } from "../ops/elementwise.js";
import type { Feed, Session } from "../runtime/session.js";
import { formatShape, sameShape, type Shape } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import type { AdamWOptions, AdamWState } from "./adamw.js";

export interface DeviceAdamWOptions extends AdamWOptions {
  /** Clip the global gradient norm to this (0 or undefined: no clipping), on the backend, before the update. */
  clip?: number;
}

/** One parameter of an update graph. */
export interface UpdatedParameter {
  readonly name: string;
  readonly shape: Shape;
  /** Whether decoupled weight decay applies to it. */
  readonly decay: boolean;
}

/** Clipping's guard against a zero norm, as clipGradNorm's. */
const CLIP_EPS = 1e-6;

/**
 * One AdamW step over every parameter as a graph, so any backend runs the update where the
 * parameters live. Inputs: the scalars `lr`, `bias1` and `bias2` (1 - β₁ᵗ and 1 - β₂ᵗ) and
 * `grad_scale` (1 / micro-batches), and per parameter `param:<name>`, `grad:<name>` (summed over
 * micro-batches), `m:<name>`, `v:<name>`. Outputs: `new_param:<name>`, `new_m:<name>`,
 * `new_v:<name>`, and `grad_norm`, the global norm before clipping. The math is core's host AdamW
 * (torch.optim.AdamW: bias-corrected moments, decoupled weight decay) after clipGradNorm's clip.
 */
export function adamwUpdateGraph(params: readonly UpdatedParameter[], options: { betas: readonly [number, number]; eps: number; weightDecay: number; clip: number }): Graph {
  const [b1, b2] = options.betas;
  const inputs: Record<string, { shape: Shape }> = { lr: { shape: [] }, bias1: { shape: [] }, bias2: { shape: [] }, grad_scale: { shape: [] } };
  for (const p of params) for (const kind of ["param", "grad", "m", "v"]) inputs[`${kind}:${p.name}`] = { shape: p.shape };
  return trace(
    (x) => {
      const grads = params.map((p) => x[`grad:${p.name}`]!.mul(x.grad_scale!));
      const norm = grads.map((g) => g.square().sum()).reduce((a, b) => a.add(b)).sqrt();
      const out: Record<string, SymTensor> = { grad_norm: norm };
      let scale: SymTensor | undefined;
      if (options.clip > 0) {
        // clipGradNorm: scale by clip / (norm + ε) only when the norm exceeds the clip.
        const within = norm.less(options.clip).add(norm.equal(options.clip));
        scale = where(within, 1, norm.add(CLIP_EPS).recip().mul(options.clip));
      }
      const lr = x.lr!;
      const shrink = lr.mul(-options.weightDecay).add(1);
      params.forEach((p, i) => {
        const g = scale ? grads[i]!.mul(scale) : grads[i]!;
        const m = x[`m:${p.name}`]!.mul(b1).add(g.mul(1 - b1));
        const v = x[`v:${p.name}`]!.mul(b2).add(g.square().mul(1 - b2));
        const w = x[`param:${p.name}`]!;
        const step = lr.mul(m.div(x.bias1!)).div(v.div(x.bias2!).sqrt().add(options.eps));
        out[`new_param:${p.name}`] = (p.decay ? w.mul(shrink) : w).sub(step);
        out[`new_m:${p.name}`] = m;
        out[`new_v:${p.name}`] = v;
      });
      return out;
    },
    { inputs },
  );
}

/** Sums of gradients over micro-batches: `sum:<name>` + `grad:<name>` → `new_sum:<name>`. */
function accumulateGraph(params: readonly UpdatedParameter[]): Graph {
  const inputs: Record<string, { shape: Shape }> = {};
  for (const p of params) for (const kind of ["sum", "grad"]) inputs[`${kind}:${p.name}`] = { shape: p.shape };
  return trace((x) => Object.fromEntries(params.map((p) => [`new_sum:${p.name}`, x[`sum:${p.name}`]!.add(x[`grad:${p.name}`]!)])), { inputs });
}

/**
 * AdamW (with optional global-norm clipping) that runs on the session's backend: the parameters,
 * the gradients and both moments stay there, and a step is one run of `adamwUpdateGraph`. Nothing
 * is read back except what `stateDict` and `syncParameters` ask for (checkpoints). Numerically it
 * is core's host AdamW after clipGradNorm, in float32 (equal to it within float32 rounding).
 *
 *     const optimizer = new DeviceAdamW(session, lm.module.namedParameters(), { lr: 3e-3, clip: 1 });
 *     const out = await session.runOnDevice(lm.trainGraph(8, 128), { input_ids, labels });
 *     optimizer.accumulate(gradientsOf(out)); // the grad:<name> outputs
 *     await optimizer.step(lr);
 */
export class DeviceAdamW {
  readonly lr: number;
  readonly betas: readonly [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  readonly clip: number;
  private readonly decay: (name: string, p: Parameter) => boolean;
  private readonly params: ReadonlyMap<string, Parameter>;
  private steps = 0;
  private readonly moments = new Map<string, { m: Feed; v: Feed }>();
  private sums = new Map<string, DeviceTensor>();
  private microBatches = 0;
  private readonly graphs = new Map<string, Graph>();
  private norm: DeviceTensor | undefined;

  constructor(
    private readonly session: Session,
    params: readonly (readonly [string, Parameter])[],
    options: DeviceAdamWOptions = {},
  ) {
    this.lr = options.lr ?? 1e-3;
    this.betas = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.01;
    this.clip = options.clip ?? 0;
    this.decay = options.decay ?? ((_name, p) => p.value.rank >= 2);
    for (const [name, p] of params) if (p.value.dtype !== "float32") throw new DenseSSMError(`DeviceAdamW: parameter "${name}" is ${p.value.dtype}; optimizers update float32 master weights`);
    this.params = new Map(params);
  }

  get stepCount(): number {
    return this.steps;
  }

  /**
   * Adds one micro-batch's gradients (device tensors by parameter name, from a training graph's
   * `grad:<name>` outputs); the optimizer takes them over and releases them.
   */
  async accumulate(grads: ReadonlyMap<string, DeviceTensor>): Promise<void> {
    for (const [name, g] of grads) {
      const p = this.params.get(name);
      if (!p) throw new DenseSSMError(`DeviceAdamW: gradient for unknown parameter "${name}"`);
      if (!sameShape(g.shape, p.shape)) throw new ShapeError(`DeviceAdamW: gradient for "${name}" has shape ${formatShape(g.shape)}, parameter has ${formatShape(p.shape)}`);
    }
    const backend = this.session.backend;
    if (this.microBatches === 0) this.sums = new Map(grads);
    else {
      const names = [...grads.keys()];
      if (names.length !== this.sums.size || names.some((n) => !this.sums.has(n))) throw new DenseSSMError("DeviceAdamW: every micro-batch must give gradients for the same parameters");
      const graph = this.graph(`sum:${names.join(",")}`, () => accumulateGraph(this.describe(names)));
      const feeds: Record<string, Feed> = {};
      for (const n of names) Object.assign(feeds, { [`sum:${n}`]: this.sums.get(n)!, [`grad:${n}`]: grads.get(n)! });
      const out = await this.session.runOnDevice(graph, feeds);
      for (const n of names) {
        backend.release(this.sums.get(n)!);
        backend.release(grads.get(n)!);
        this.sums.set(n, out.get(`new_sum:${n}`)!);
      }
    }
    this.microBatches++;
  }

  /** One update from the accumulated gradients (their mean over micro-batches); `lr` overrides the base rate. */
  async step(lr = this.lr): Promise<void> {
    if (this.microBatches === 0) throw new DenseSSMError("DeviceAdamW: step() before any gradients were accumulated");
    const names = [...this.sums.keys()];
    const graph = this.graph(`update:${names.join(",")}`, () => adamwUpdateGraph(this.describe(names), { betas: this.betas, eps: this.eps, weightDecay: this.weightDecay, clip: this.clip }));
    const t = this.steps + 1;
    const feeds: Record<string, Feed> = {
      lr: Tensor.scalar(lr),
      bias1: Tensor.scalar(1 - this.betas[0] ** t),
      bias2: Tensor.scalar(1 - this.betas[1] ** t),
      grad_scale: Tensor.scalar(1 / this.microBatches),
    };
    for (const n of names) {
      const shape = this.params.get(n)!.shape;
      const mom = this.moments.get(n) ?? { m: Tensor.zeros(shape), v: Tensor.zeros(shape) };
      Object.assign(feeds, { [`param:${n}`]: this.session.parameterOnDevice(n), [`grad:${n}`]: this.sums.get(n)!, [`m:${n}`]: mom.m, [`v:${n}`]: mom.v });
    }
    const out = await this.session.runOnDevice(graph, feeds);
    const backend = this.session.backend;
    for (const n of names) {
      this.session.replaceParameter(n, out.get(`new_param:${n}`)!);
      const old = this.moments.get(n);
      for (const held of [old?.m, old?.v, this.sums.get(n)]) if (held && !(held instanceof Tensor)) backend.release(held);
      this.moments.set(n, { m: out.get(`new_m:${n}`)!, v: out.get(`new_v:${n}`)! });
    }
    if (this.norm) backend.release(this.norm);
    this.norm = out.get("grad_norm");
    this.sums = new Map();
    this.microBatches = 0;
    this.steps = t;
  }

  /** The global gradient norm (before clipping) of the last step, read back from the backend. */
  async lastGradNorm(): Promise<number | undefined> {
    return this.norm && (await this.session.backend.download(this.norm)).item();
  }

  /** Copies every parameter's value back into its host tensor (for checkpoints and exports). */
  async syncParameters(): Promise<void> {
    for (const name of this.params.keys()) await this.session.syncParameter(name);
  }

  /** Moments and step, read back from the backend, in the format of AdamW's (checkpoints hold either). */
  async stateDict(): Promise<AdamWState> {
    const read = async (t: Feed) => (t instanceof Tensor ? t.clone() : this.session.backend.download(t));
    const moments = new Map<string, { m: Tensor; v: Tensor }>();
    for (const [name, { m, v }] of this.moments) moments.set(name, { m: await read(m), v: await read(v) });
    return { step: this.steps, moments };
  }

  /** Restores moments and step (uploaded with the next step). */
  loadStateDict(state: AdamWState): void {
    for (const [name, { m, v }] of state.moments) {
      const p = this.params.get(name);
      if (!p) throw new DenseSSMError(`AdamW state has moments for unknown parameter "${name}"`);
      if (m.size !== p.value.size || v.size !== p.value.size) throw new ShapeError(`AdamW state for "${name}" has shape ${formatShape(m.shape)}, parameter has ${formatShape(p.shape)}`);
    }
    this.releaseAll();
    for (const [name, { m, v }] of state.moments) {
      const shape = this.params.get(name)!.shape;
      this.moments.set(name, { m: m.reshape(shape), v: v.reshape(shape) });
    }
    this.steps = state.step;
  }

  /** Releases the moments and any accumulated gradients held on the backend. */
  dispose(): void {
    this.releaseAll();
  }

  private releaseAll(): void {
    const backend = this.session.backend;
    for (const { m, v } of this.moments.values()) for (const t of [m, v]) if (!(t instanceof Tensor)) backend.release(t);
    for (const g of this.sums.values()) backend.release(g);
    if (this.norm) backend.release(this.norm);
    this.moments.clear();
    this.sums = new Map();
    this.microBatches = 0;
    this.norm = undefined;
  }

  private describe(names: readonly string[]): UpdatedParameter[] {
    return names.map((name) => {
      const p = this.params.get(name)!;
      return { name, shape: p.shape, decay: this.decay(name, p) };
    });
  }

  private graph(key: string, build: () => Graph): Graph {
    let g = this.graphs.get(key);
    if (!g) this.graphs.set(key, (g = build()));
    return g;
  }
}
