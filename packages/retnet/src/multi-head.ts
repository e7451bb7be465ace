import { DenseSSMError, type RMSNorm, type SymTensor } from "@densessm/core";
import { DenseHiddenRing, selectiveGate, type HiddenFusion, type HiddenProjection } from "@densessm/fusion";
import type { RetentionContext } from "./context.js";
import { recurrentRetention, thetaShift } from "./retention.js";
import { chunkwiseRetention, parallelRetention } from "./retention-ops.js";

// What DenseGAU-RetNet's and RetNet's token mixers share: the dense k/v connection and multi-head
// retention in whichever form the context asks for. Each mixer only adds its own projections.

/** The pre-fusion k and v of one layer, which later layers read through their dense connections. */
export interface DenseKV {
  k: SymTensor;
  v: SymTensor;
}

/** The modules of a layer's dense connection, named as in the checkpoints. */
export interface DenseKVModules {
  k_select: HiddenProjection;
  v_select: HiddenProjection;
  k_norm: RMSNorm;
  v_norm: RMSNorm;
}

/**
 * k ← k_norm(k + Σ_i SiLU(k_select(x)) ⊙ k_i) and likewise for v, over the earlier layers'
 * pre-fusion k_i, v_i: the selective transition (identity projection, gate from the current input)
 * followed by add-fusion. A layer with no earlier layers keeps its own k and v.
 */
export function fuseDenseKV(x: SymTensor, current: DenseKV, earlier: readonly DenseKV[], dense: DenseKVModules | undefined, fusion: HiddenFusion): DenseKV {
  if (earlier.length === 0 || !dense) return current;
  const kGate = selectiveGate(dense.k_select, x);
  const vGate = selectiveGate(dense.v_select, x);
  return {
    k: dense.k_norm.forward(fusion.forwardGated(current.k, kGate, earlier.map((p) => p.k))),
    v: dense.v_norm.forward(fusion.forwardGated(current.v, vGate, earlier.map((p) => p.v))),
  };
}

/** A DenseGAU-RetNet or RetNet block: what the layer stack needs from it. */
export interface DenseRetentionLayer {
  forward(x: SymTensor, ctx: RetentionContext, earlier: readonly DenseKV[], state?: SymTensor): { out: SymTensor; kv: DenseKV; state?: SymTensor };
}

/**
 * Runs the blocks in order, each reading the pre-fusion k, v of the `denseDepth` blocks before it
 * (the dense connection), with `states[i]` as block i's recurrent state in recurrent form. Returns
 * the last block's output and, in recurrent form, every block's next state.
 */
export function runDenseLayers(layers: readonly DenseRetentionLayer[], x: SymTensor, ctx: RetentionContext, denseDepth: number, states?: readonly SymTensor[]): { out: SymTensor; states: SymTensor[] } {
  const ring = new DenseHiddenRing<DenseKV>(denseDepth);
  const next: SymTensor[] = [];
  layers.forEach((layer, i) => {
    const r = layer.forward(x, ctx, ring.items(), states?.[i]);
    x = r.out;
    ring.push(r.kv);
    if (r.state) next.push(r.state);
  });
  return { out: x, states: next };
}

/**
 * Splits q, k [B, L, H·dk] and v [B, L, H·dv] into heads, rotates q and k (theta shift) and runs
 * retention in the context's form. Returns [B, L, H, dv] and, in recurrent form, the next state.
 */
export function multiHeadRetention(q: SymTensor, k: SymTensor, v: SymTensor, dims: { numHeads: number; keyDim: number; headDim: number }, ctx: RetentionContext, state?: SymTensor): { out: SymTensor; state?: SymTensor } {
  const [b, len] = q.shape as [number, number, number];
  const heads = (t: SymTensor, width: number) => t.reshape([b, len, dims.numHeads, width]).transpose(1, 2);
  const qr = thetaShift(heads(q, dims.keyDim), ctx.sin, ctx.cos);
  const kr = thetaShift(heads(k, dims.keyDim), ctx.sin, ctx.cos);
  const vh = heads(v, dims.headDim);
  switch (ctx.mode) {
    case "parallel":
      return { out: parallelRetention(qr, kr, vh, { gammas: ctx.gammas, rowNormalize: ctx.rowNormalize ?? true }) };
    case "chunkwise":
      return { out: chunkwiseRetention(qr, kr, vh, { gammas: ctx.gammas, chunkSize: ctx.chunkSize ?? 64, start: ctx.start ?? 0 }) };
    case "recurrent":
      return recurrentRetention(qr, kr, vh, ctx.carry!, ctx.inject!, state);
    default:
      throw new DenseSSMError(`unknown retention mode "${String(ctx.mode)}"`);
  }
}
