import { DenseSSMError, Linear, Module, ops, type Rng, type SymTensor } from "@densessm/core";
import { HiddenProjection } from "./projection.js";

/** How φ maps a shallow layer's hidden state into the target layer's space. */
export type ProjectionSpec =
  | { kind: "identity" }
  | { kind: "linear" }
  | { kind: "mlp"; midRatio: number };

export interface SelectiveTransitionOptions {
  /** Width of the shallow (source) hidden state. */
  sourceDim: number;
  /** Width of the target space (what the fused state looks like). */
  targetDim: number;
  /** Width of the current layer's input, from which the gate is computed. */
  inputDim: number;
  /** Default: identity (requires sourceDim === targetDim), as in the official DenseRetNet. */
  projection?: ProjectionSpec;
  /** The gate MLP's bottleneck: hidden = floor(inputDim / gateMidRatio). Default 32 (official). */
  gateMidRatio?: number;
  rng?: Rng;
}

/**
 * The selective transition module φ of DenseSSM:
 *
 *     gate   = SiLU(select(x))                  select = fc2 ∘ SiLU ∘ fc1 (bottleneck MLP)
 *     φ(h)   = gate ⊙ proj(h)
 *
 * `x` is the current layer's input and `h` a shallow layer's hidden state; both may be whole
 * sequences `[B, L, D]` or single tokens `[B, D]` (any leading shape), with the same parameters.
 * The gate is computed once per layer and may be applied to several shallow states (`gate` +
 * `apply`), which is what the official code does for its `dense_block_layers` previous layers.
 */
export class SelectiveTransition extends Module {
  proj: Linear | HiddenProjection | undefined;
  select: HiddenProjection;
  readonly projection: ProjectionSpec;

  constructor(readonly options: SelectiveTransitionOptions) {
    super();
    const { sourceDim, targetDim, inputDim, rng } = options;
    this.projection = options.projection ?? { kind: "identity" };
    this.proj = transitionProjection(this.projection, sourceDim, targetDim, rng);
    const mid = options.gateMidRatio ?? 32;
    this.select = new HiddenProjection(inputDim, Math.max(1, Math.floor(inputDim / mid)), targetDim, { rng });
  }

  /** SiLU(select(x)): the gate computed from the current layer's input. */
  gate(current: SymTensor): SymTensor {
    return selectiveGate(this.select, current);
  }

  /** proj(h): a shallow state in the target space. */
  project(shallow: SymTensor): SymTensor {
    return this.proj ? this.proj.forward(shallow) : shallow;
  }

  /** gate ⊙ proj(h) for a gate from `gate()`. */
  apply(gate: SymTensor, shallow: SymTensor): SymTensor {
    return gate.mul(this.project(shallow));
  }

  /** φ(h) for one shallow state. */
  forward(current: SymTensor, shallow: SymTensor): SymTensor {
    return this.apply(this.gate(current), shallow);
  }
}

/**
 * proj of φ: nothing for identity (which needs sourceDim === targetDim), a Linear, or a bottleneck
 * MLP. For models that apply the transition's pieces over axes of their own (e.g. DenseMamba's E × N
 * hidden states), so they build the same parameters SelectiveTransition would.
 */
export function transitionProjection(spec: ProjectionSpec, sourceDim: number, targetDim: number, rng?: Rng): Linear | HiddenProjection | undefined {
  switch (spec.kind) {
    case "identity":
      if (sourceDim !== targetDim) throw new DenseSSMError(`SelectiveTransition: an identity projection needs sourceDim === targetDim, got ${sourceDim} and ${targetDim}`);
      return undefined;
    case "linear":
      return new Linear(sourceDim, targetDim, { bias: false, rng });
    case "mlp":
      return new HiddenProjection(sourceDim, Math.max(1, Math.floor(sourceDim / spec.midRatio)), targetDim, { rng });
    default:
      throw new DenseSSMError(`SelectiveTransition: unknown projection ${JSON.stringify(spec)}`);
  }
}

/**
 * The gate SiLU(select(x)) alone (not applied to any state), for a gate MLP owned elsewhere: for
 * checkpoints that name the MLP directly, e.g. `k_select`. Multiply shallow states by it yourself.
 */
export function selectiveGate(select: HiddenProjection, current: SymTensor): SymTensor {
  return ops.silu(select.forward(current));
}
