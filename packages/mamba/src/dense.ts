import { init, Module, type Rng, type SymTensor } from "@densessm/core";
import { HiddenProjection, selectiveGate, transitionProjection, type HiddenFusion } from "@densessm/fusion";
import type { DenseOptions } from "./config.js";
import type { MixerHooks } from "./mixer.js";

/**
 * DenseMamba's selective transition φ_i for one (target layer, distance i) pair:
 *
 *   gate_t = SiLU(select(u_t))           select: d_model → floor(d_model / gate_mid_ratio) → G, SiLU between
 *   φ_i(h) = gate_t ⊙ proj(h)            proj acts on the channel axis E (identity by default)
 *
 * u_t is the mixer's input (the normed residual stream of the current layer). With per-channel
 * gates G = E and the gate broadcasts over the state axis N; with per-state gates G = E·N.
 *
 * These are @densessm/fusion's SelectiveTransition pieces (`transitionProjection`, the bottleneck
 * gate MLP, `selectiveGate`), applied over the right axes: a Mamba hidden state is E × N per token,
 * so the projection acts on E with N carried along, and a per-state gate has width E·N.
 * Parameter names: `proj.*` (absent for identity), `select.fc1.weight`, `select.fc2.weight`.
 */
export class DenseTransition extends Module {
  proj: ReturnType<typeof transitionProjection>;
  select: HiddenProjection;

  constructor(
    readonly dModel: number,
    readonly dInner: number,
    readonly dState: number,
    readonly options: DenseOptions,
    rng?: Rng,
  ) {
    super();
    this.proj = transitionProjection(options.projection === "mlp" ? { kind: "mlp", midRatio: options.projMidRatio } : { kind: options.projection }, dInner, dInner, rng);
    const gateWidth = options.gate === "state" ? dInner * dState : dInner;
    this.select = new HiddenProjection(dModel, Math.max(1, Math.floor(dModel / options.gateMidRatio)), gateWidth, rng ? { rng } : {});
    if (options.gateInit === "zero") this.select.fc2.weight.assign(init.zeros(this.select.fc2.weight.shape));
  }

  /** The gate from the current layer's input u [B, T, d_model]: [B, T, E, 1] or [B, T, E, N] (state), [B, T, E] (input). */
  gate(u: SymTensor, target: "state" | "input"): SymTensor {
    // SiLU(select(u)): what SelectiveTransition.gate computes, for either gate width.
    const g = selectiveGate(this.select, u);
    if (target === "input") return g;
    return this.options.gate === "state" ? g.reshape([...u.shape.slice(0, -1), this.dInner, this.dState]) : g.unsqueeze(-1);
  }

  /** proj over the channel axis of a state h [B, T, E, N] or an input x [B, T, E]. */
  project(v: SymTensor, target: "state" | "input"): SymTensor {
    if (!this.proj) return v;
    if (target === "input") return this.proj.forward(v);
    return this.proj.forward(v.transpose(-1, -2)).transpose(-1, -2);
  }

  forward(u: SymTensor, shallow: SymTensor, target: "state" | "input"): SymTensor {
    return this.gate(u, target).mul(this.project(shallow, target));
  }
}

/**
 * The hooks that make a Mamba mixer dense: the previous layers' tensors (h, or x for the "input"
 * variant; nearest layer first) pass through φ_1..φ_k and are added to this layer's own with
 * @densessm/fusion's HiddenFusion in "add" mode.
 */
export function denseHooks(transitions: readonly DenseTransition[], fusion: HiddenFusion, u: SymTensor, previous: readonly SymTensor[], target: "state" | "input"): MixerHooks {
  if (previous.length === 0 || transitions.length === 0) return {};
  const fuse = (own: SymTensor): SymTensor =>
    fusion.forward(
      own,
      previous.slice(0, transitions.length).map((p, i) => transitions[i]!.forward(u, p, target)),
    );
  return target === "state" ? { fuseState: fuse } : { fuseInput: fuse };
}

