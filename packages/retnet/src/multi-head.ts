import { DenseSSMError, RMSNorm, type Linear, type Rng, type SymTensor } from "@densessm/core";
import { DenseHiddenRing, HiddenFusion, HiddenProjection, selectiveGate, transitionProjection } from "@densessm/fusion";
import type { RetentionContext } from "./context.js";
import type { DenseKVOptions } from "./dense-options.js";
import { recurrentRetention, thetaShift } from "./retention.js";
import { chunkwiseRetention, parallelRetention } from "./retention-ops.js";

// What DenseGAU-RetNet's and RetNet's token mixers share: the dense k/v connection and multi-head
// retention in whichever form the context asks for. Each mixer only adds its own projections.

/** The pre-fusion k and v of one layer, which later layers read through their dense connections. */
export interface DenseKV {
  k: SymTensor;
  v: SymTensor;
}

/**
 * The modules of a layer's dense connection, named as in the checkpoints. The official ones are
 * k_select/v_select (the gates' MLPs) and k_norm/v_norm; the ablations add k_dense_proj/v_dense_proj
 * (the selective transition's projection) and k_fusion/v_fusion (concat fusion). Absent means off.
 */
export interface DenseKVModules {
  k_select?: HiddenProjection | undefined;
  v_select?: HiddenProjection | undefined;
  k_norm?: RMSNorm | undefined;
  v_norm?: RMSNorm | undefined;
  k_dense_proj?: Linear | HiddenProjection | undefined;
  v_dense_proj?: Linear | HiddenProjection | undefined;
  k_fusion?: HiddenFusion | undefined;
  v_fusion?: HiddenFusion | undefined;
}

/** Widths a layer's dense connection is built for. */
export interface DenseKVShape {
  /** The layer input the gates read. */
  readonly input: number;
  readonly key: number;
  readonly value: number;
  /** Bottleneck widths of the k and v select MLPs. */
  readonly kSelectHidden: number;
  readonly vSelectHidden: number;
  readonly eps: number;
  /** The dense depth m (concat fusion has m + 1 slots). */
  readonly depth: number;
}

/**
 * A layer's dense connection. `everyLayer`: build the gates and norms even where the layer has no
 * earlier layers to read (layer 0), as the official code does, so checkpoints have them; `reads`:
 * whether this layer reads earlier layers (the ablations' projection and concat fusion exist only then).
 */
export function denseKVModules(options: DenseKVOptions, shape: DenseKVShape, where: { everyLayer: boolean; reads: boolean }, rng?: Rng): DenseKVModules {
  const official = where.everyLayer || where.reads;
  const modules: DenseKVModules = {};
  if (official && options.gate) {
    modules.k_select = new HiddenProjection(shape.input, shape.kSelectHidden, shape.key, { rng });
    modules.v_select = new HiddenProjection(shape.input, shape.vSelectHidden, shape.value, { rng });
  }
  if (official && options.norm) {
    modules.k_norm = new RMSNorm(shape.key, shape.eps);
    modules.v_norm = new RMSNorm(shape.value, shape.eps);
  }
  if (where.reads && options.projection !== "identity") {
    const spec = options.projection === "mlp" ? { kind: "mlp" as const, midRatio: options.projectionRatio } : { kind: "linear" as const };
    modules.k_dense_proj = transitionProjection(spec, shape.key, shape.key, rng);
    modules.v_dense_proj = transitionProjection(spec, shape.value, shape.value, rng);
  }
  if (where.reads && options.fusion === "concat") {
    modules.k_fusion = new HiddenFusion({ mode: "concat", dim: shape.key, numSelected: shape.depth, rng });
    modules.v_fusion = new HiddenFusion({ mode: "concat", dim: shape.value, numSelected: shape.depth, rng });
  }
  return modules;
}

/** Fusion by addition has no parameters: one instance serves every layer. */
const ADD = new HiddenFusion({ mode: "add", dim: 1 });

/**
 * k ← k_norm(fuse(k, φ(k_1), …, φ(k_m))) with φ(k_i) = SiLU(k_select(x)) ⊙ proj(k_i), and likewise
 * for v, over the earlier layers' pre-fusion k_i, v_i. With the official modules this is
 * k_norm(k + Σ_i SiLU(k_select(x)) ⊙ k_i). The first layer keeps its own k and v; every later layer
 * is normed even when it reads no earlier layer (m = 0), as the official code does.
 */
export function fuseDenseKV(x: SymTensor, current: DenseKV, earlier: readonly DenseKV[], dense: DenseKVModules, first: boolean): DenseKV {
  if (first) return current;
  return {
    k: fuseOne(x, current.k, earlier.map((p) => p.k), dense.k_select, dense.k_dense_proj, dense.k_fusion, dense.k_norm),
    v: fuseOne(x, current.v, earlier.map((p) => p.v), dense.v_select, dense.v_dense_proj, dense.v_fusion, dense.v_norm),
  };
}

function fuseOne(x: SymTensor, own: SymTensor, shallow: readonly SymTensor[], select?: HiddenProjection, proj?: Linear | HiddenProjection, concat?: HiddenFusion, norm?: RMSNorm): SymTensor {
  let fused = own;
  if (shallow.length > 0) {
    const gate = select ? selectiveGate(select, x) : undefined;
    const fusion = concat ?? ADD;
    if (gate && !proj) fused = fusion.forwardGated(own, gate, shallow); // one denseFusion node when adding
    else {
      const phi = (h: SymTensor) => {
        const projected = proj ? proj.forward(h) : h;
        return gate ? gate.mul(projected) : projected;
      };
      fused = fusion.forward(own, shallow.map(phi));
    }
  }
  return norm ? norm.forward(fused) : fused;
}

/** A DenseGAU-RetNet or RetNet block: what the layer stack needs from it. */
export interface DenseRetentionLayer {
  forward(x: SymTensor, ctx: RetentionContext, earlier: readonly DenseKV[], state?: SymTensor): { out: SymTensor; kv: DenseKV; state?: SymTensor };
}

/**
 * Runs the blocks in order, each reading the pre-fusion k, v of the `denseDepth` blocks before it
 * (the dense connection), with `states[i]` as block i's recurrent state in recurrent form. Returns
 * the last block's output and, in recurrent form, every block's next state; `ctx.residual`, when
 * given, receives the stack's input and every block's output.
 */
export function runDenseLayers(layers: readonly DenseRetentionLayer[], x: SymTensor, ctx: RetentionContext, denseDepth: number, states?: readonly SymTensor[]): { out: SymTensor; states: SymTensor[] } {
  const ring = new DenseHiddenRing<DenseKV>(denseDepth);
  const next: SymTensor[] = [];
  ctx.residual?.push(x);
  layers.forEach((layer, i) => {
    const r = layer.forward(x, ctx, ring.items(), states?.[i]);
    x = r.out;
    ctx.residual?.push(x);
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
