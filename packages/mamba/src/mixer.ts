import { init, Linear, Module, ops, Parameter, Rng, Tensor, type SymTensor } from "@densessm/core";
import type { MambaConfig } from "./config.js";
import { DepthwiseConv1d } from "./conv.js";
import { selectiveScan } from "./selective-scan.js";

/**
 * One layer's recurrent state, what `Mamba.step` keeps:
 *  - conv [B, d_conv, E]: the last d_conv inputs of the depthwise convolution, oldest first
 *    (time-major, as the convolution reads them; state-spaces keeps them [B, E, d_conv]);
 *  - ssm  [B, E, N]: the selective scan's hidden state h.
 */
export interface LayerState {
  readonly conv: SymTensor;
  readonly ssm: SymTensor;
}

/** Hooks through which DenseMamba fuses earlier layers into this one (identity for Mamba). */
export interface MixerHooks {
  /** Replaces the SSM input x [B, T, E] (after conv + SiLU) before x_proj and the scan. */
  fuseInput?: (x: SymTensor) => SymTensor;
  /** Replaces the hidden states h [B, T, E, N] used for the C read-out (not the recurrence). */
  fuseState?: (h: SymTensor) => SymTensor;
}

export interface MixerOutput {
  /** [B, T, d_model] */
  readonly out: SymTensor;
  readonly state: LayerState;
  /** This layer's own (unfused) hidden states h [B, T, E, N], for the layers above. */
  readonly h: SymTensor;
  /** This layer's own (unfused) SSM input x [B, T, E], for the layers above. */
  readonly x: SymTensor;
}

/**
 * The Mamba mixer of state-spaces/mamba (`Mamba` in mamba_simple.py), over a chunk of T tokens
 * that continues from a state. T = L from a zero state is the full-sequence form; T = 1 is
 * `Mamba.step`; anything between is a chunk of a streamed sequence. All three are this one code
 * path, so they agree by construction.
 *
 *   [x, z] = in_proj(u)                          x, z: [B, T, E]
 *   x      = SiLU(conv1d(x) + conv_bias)         depthwise, causal, kernel d_conv
 *   [δ, B, C] = x_proj(x)                        δ: [B, T, dt_rank], B, C: [B, T, N]
 *   Δ      = softplus(dt_proj.weight · δ + dt_proj.bias)
 *   A      = −exp(A_log)                         [E, N]
 *   h_t    = exp(Δ_t A) ⊙ h_(t−1) + Δ_t B_t x_t  [B, E, N] per token
 *   y_t    = C_t · h_t + D ⊙ x_t
 *   out    = out_proj(y ⊙ SiLU(z))
 */
export class MambaMixer extends Module {
  in_proj: Linear;
  conv1d: DepthwiseConv1d;
  x_proj: Linear;
  dt_proj: Linear;
  A_log: Parameter;
  D: Parameter;
  out_proj: Linear;

  readonly dInner: number;
  readonly dState: number;
  readonly dtRank: number;
  readonly dConv: number;

  constructor(config: MambaConfig, rng: Rng = new Rng(0)) {
    super();
    const { dModel, dInner, dState, dConv } = config;
    const dtRank = config.resolvedDtRank;
    this.dInner = dInner;
    this.dState = dState;
    this.dtRank = dtRank;
    this.dConv = dConv;
    this.in_proj = new Linear(dModel, 2 * dInner, { bias: config.bias, rng });
    this.conv1d = new DepthwiseConv1d(dInner, dConv, { bias: config.convBias, rng });
    this.x_proj = new Linear(dInner, dtRank + 2 * dState, { bias: false, rng });
    this.dt_proj = new Linear(dtRank, dInner, { bias: true, rng });
    this.A_log = new Parameter(s4dRealLogA(dInner, dState));
    // D = 1: the skip connection starts as the identity (official init).
    this.D = new Parameter(init.ones([dInner]));
    this.out_proj = new Linear(dInner, dModel, { bias: config.bias, rng });
    this.initDt(config, rng);
    // MixerModel's _init_weights: every Linear bias except dt_proj's starts at zero; out_proj is
    // re-drawn like PyTorch's default and scaled by 1/sqrt(n_layer) (GPT-2 prenorm residual scheme).
    for (const lin of [this.in_proj, this.out_proj]) if (lin.bias) lin.bias.assign(init.zeros(lin.bias.shape));
    const scaled = init.fanInUniform(this.out_proj.weight.shape, dInner, rng);
    const s = 1 / Math.sqrt(config.nLayer);
    for (let i = 0; i < scaled.size; i++) scaled.data[i]! *= s;
    this.out_proj.weight.assign(scaled);
  }

  /**
   * dt_proj: weight uniform in ±dt_scale/sqrt(dt_rank) (or constant), and a bias chosen so that
   * softplus(bias) is log-uniform in [dt_min, dt_max] (floored at dt_init_floor): the bias is the
   * inverse softplus dt + log(−expm1(−dt)).
   */
  private initDt(config: MambaConfig, rng: Rng): void {
    const std = config.dtScale / Math.sqrt(config.resolvedDtRank);
    const w = config.dtInit === "constant" ? init.constant(this.dt_proj.weight.shape, std) : init.uniform(this.dt_proj.weight.shape, -std, std, rng);
    this.dt_proj.weight.assign(w);
    const bias = new Float32Array(this.dInner);
    const lo = Math.log(config.dtMin);
    const hi = Math.log(config.dtMax);
    for (let i = 0; i < bias.length; i++) {
      const dt = Math.max(Math.exp(lo + rng.uniform() * (hi - lo)), config.dtInitFloor);
      bias[i] = dt + Math.log(-Math.expm1(-dt));
    }
    this.dt_proj.bias!.assign(Tensor.float32(bias));
  }

  /** Runs T tokens u [B, T, d_model] from `state` (zeros when absent). */
  forward(u: SymTensor, state: LayerState | undefined, hooks: MixerHooks = {}): MixerOutput {
    const E = this.dInner;
    const N = this.dState;
    const K = this.dConv;
    const T = u.dim(1);

    const xz = this.in_proj.forward(u);
    const xIn = xz.slice(-1, 0, E);
    const z = xz.slice(-1, E, 2 * E);

    // Convolution over the previous K−1 inputs and this chunk; the new conv state keeps the last K
    // inputs (what Mamba.step's rolling buffer holds after this chunk). Continuing from a state,
    // that window [B, K−1+T, E] is both the convolution's input and, at T = 1, the new state.
    let xConv: SymTensor;
    let conv: SymTensor;
    if (state) {
      const window = ops.concat([state.conv.slice(1, 1), xIn], 1);
      xConv = this.conv1d.overWindow(window);
      conv = T === 1 ? window : window.slice(1, T - 1);
    } else {
      xConv = this.conv1d.forward(xIn, undefined);
      conv = ops.padAxis(xIn, 1, K, 0).slice(1, T);
    }

    const xOwn = ops.silu(xConv);
    const x = hooks.fuseInput ? hooks.fuseInput(xOwn) : xOwn;

    const xDbl = this.x_proj.forward(x);
    const dtLow = xDbl.slice(-1, 0, this.dtRank);
    const B = xDbl.slice(-1, this.dtRank, this.dtRank + N);
    const C = xDbl.slice(-1, this.dtRank + N, this.dtRank + 2 * N);
    const delta = ops.softplus(this.dt_proj.forward(dtLow));
    const A = this.A_log.sym.exp().neg();

    const h = selectiveScan({ delta, A, B, x, h0: state?.ssm });
    const hRead = hooks.fuseState ? hooks.fuseState(h) : h;
    // y_t = h_t C_t: contract N, as a batched product [B, T, E, N] · [B, T, N, 1] (one pass over h,
    // where a broadcast multiply and a sum make two and a [B, T, E, N] temporary).
    const y = hRead.matmul(C.unsqueeze(-1)).squeeze(-1).add(x.mul(this.D));
    const out = this.out_proj.forward(y.mul(ops.silu(z)));
    const ssm = h.slice(1, T - 1).squeeze(1);
    return { out, state: { conv, ssm }, h, x: xOwn };
  }
}

/** S4D-real initialisation: A = −(1, 2, ..., N) for every channel, stored as A_log = log(n). */
function s4dRealLogA(dInner: number, dState: number): Tensor {
  const data = new Float32Array(dInner * dState);
  for (let e = 0; e < dInner; e++) for (let n = 0; n < dState; n++) data[e * dState + n] = Math.log(n + 1);
  return new Tensor(data, [dInner, dState], "float32");
}
