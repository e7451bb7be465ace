import { DenseSSMError, Linear, Module, ops, type Rng, type SymTensor } from "@densessm/core";
import { denseFusion } from "./dense-fusion.js";

export type FusionMode = "add" | "concat";

export interface HiddenFusionOptions {
  mode?: FusionMode;
  /** Width of the current and the selected states. */
  dim: number;
  /** How many selected states are fused (the dense depth m); needed by "concat". */
  numSelected?: number;
  rng?: Rng;
}

/**
 * The hidden fusion module:
 *
 *     add:    h' = h + Σ_i φ_i                         (the paper's choice; no parameters)
 *     concat: h' = W [h ; φ_1 ; ... ; φ_m]             (W: Linear((m+1)·D → D), no bias)
 *
 * With "concat", layers with fewer than m earlier layers get zeros for the missing slots, so every
 * layer has the same weight shape.
 */
export class HiddenFusion extends Module {
  readonly mode: FusionMode;
  proj: Linear | undefined;
  readonly numSelected: number;

  constructor(options: HiddenFusionOptions) {
    super();
    this.mode = options.mode ?? "add";
    this.numSelected = options.numSelected ?? 1;
    if (this.mode !== "add" && this.mode !== "concat") throw new DenseSSMError(`HiddenFusion: unknown mode "${String(this.mode)}" (expected "add" or "concat")`);
    if (!Number.isInteger(this.numSelected) || this.numSelected < 0) throw new DenseSSMError(`HiddenFusion: numSelected must be a non-negative integer, got ${this.numSelected}`);
    this.proj = this.mode === "concat" ? new Linear((this.numSelected + 1) * options.dim, options.dim, { bias: false, rng: options.rng }) : undefined;
  }

  forward(current: SymTensor, selected: readonly SymTensor[]): SymTensor {
    if (this.mode === "add") return selected.reduce((acc, s) => acc.add(s), current);
    if (selected.length > this.numSelected) throw new DenseSSMError(`HiddenFusion: got ${selected.length} selected states, configured for at most ${this.numSelected}`);
    const zeros = current.mul(0);
    const parts = [current, ...selected, ...Array.from({ length: this.numSelected - selected.length }, () => zeros)];
    return this.proj!.forward(ops.concat(parts, -1));
  }

  /**
   * `forward(current, shallow.map((h) => gate ⊙ h))`: fusion of states that share one gate and are
   * already in the target space (the selective transition with identity projection, as DenseRetNet's
   * k and v). Every tensor has current's shape. In "add" mode this is one denseFusion node.
   */
  forwardGated(current: SymTensor, gate: SymTensor, shallow: readonly SymTensor[]): SymTensor {
    if (this.mode === "add" && shallow.length > 0) return denseFusion(current, gate, shallow);
    return this.forward(current, shallow.map((h) => gate.mul(h)));
  }
}
