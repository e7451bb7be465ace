import { Embedding, LayerNorm, Linear, Module, ops, RMSNorm, Rng, type SymTensor } from "@densessm/core";
import { DenseHiddenRing, HiddenFusion } from "@densessm/fusion";
import type { MambaConfig } from "./config.js";
import { denseHooks, DenseTransition } from "./dense.js";
import { MambaMixer, type LayerState, type MixerHooks } from "./mixer.js";

/** A Mamba mixer plus, for DenseMamba, the selective transitions from its k = min(l, m) predecessors. */
export class DenseMambaMixer extends MambaMixer {
  /** φ_1..φ_k: index 0 reads the layer just below (l−1), index i reads layer l−1−i. */
  dense_transitions: DenseTransition[];
  fusion: HiddenFusion;

  constructor(config: MambaConfig, layerIdx: number, rng: Rng) {
    super(config, rng);
    const dense = config.dense!;
    const k = Math.min(layerIdx, dense.m);
    this.dense_transitions = Array.from({ length: k }, () => new DenseTransition(config.dModel, config.dInner, config.dState, dense, rng));
    // The paper fuses by addition, which has no parameters.
    this.fusion = new HiddenFusion({ mode: "add", dim: config.dInner });
  }
}

/** Add → Norm → Mixer, with the residual stream carried separately (state-spaces `Block`). */
export class MambaBlock extends Module {
  mixer: MambaMixer;
  norm: RMSNorm | LayerNorm;

  constructor(config: MambaConfig, layerIdx: number, rng: Rng) {
    super();
    this.mixer = config.isDense ? new DenseMambaMixer(config, layerIdx, rng) : new MambaMixer(config, rng);
    this.norm = config.rmsNorm ? new RMSNorm(config.dModel, config.normEpsilon) : new LayerNorm(config.dModel, config.normEpsilon);
  }
}

export class MambaBackbone extends Module {
  embedding: Embedding;
  layers: MambaBlock[];
  norm_f: RMSNorm | LayerNorm;

  constructor(config: MambaConfig, rng: Rng) {
    super();
    this.embedding = new Embedding(config.paddedVocabSize, config.dModel, { rng, std: config.initializerRange });
    this.layers = Array.from({ length: config.nLayer }, (_, i) => new MambaBlock(config, i, rng));
    this.norm_f = config.rmsNorm ? new RMSNorm(config.dModel, config.normEpsilon) : new LayerNorm(config.dModel, config.normEpsilon);
  }
}

export interface ChunkOutput {
  /** [B, T, padded vocab] */
  readonly logits: SymTensor;
  /** Every layer's state after the chunk. */
  readonly states: LayerState[];
}

/**
 * Mamba (or DenseMamba) with its language-model head: the module tree whose parameter names are
 * the state-spaces checkpoint keys (`backbone.layers.N.mixer.in_proj.weight`, ...). The graph-
 * level API (tracing, sessions, checkpoints) is `MambaForCausalLM` in causal-lm.ts.
 */
export class MambaLMHeadModel extends Module {
  backbone: MambaBackbone;
  lm_head: Linear;

  constructor(
    readonly config: MambaConfig,
    rng: Rng = new Rng(0),
  ) {
    super();
    this.backbone = new MambaBackbone(config, rng);
    this.lm_head = new Linear(config.dModel, config.paddedVocabSize, { bias: false, rng });
    // Tied head: the same Parameter under both names (saved under both, as PyTorch's state_dict does).
    if (config.tieEmbeddings) this.lm_head.weight = this.backbone.embedding.weight;
  }

  /**
   * T tokens ids [B, T] continuing from `states` (a fresh sequence when absent). `stream`, when
   * given, receives the residual stream: the embedding, then hidden + residual after each layer. Each layer:
   *   residual = hidden + residual;  hidden = mixer(norm(residual))
   * then logits = lm_head(norm_f(hidden + residual)). With fused_add_norm / residual_in_fp32 the
   * official code computes the same values (we compute in float32 throughout).
   *
   * DenseMamba: the layers of one chunk see each other's per-token tensors (h, or x for the
   * "input" variant) for the chunk's T tokens only, so nothing dense crosses chunk boundaries.
   */
  forwardChunk(ids: SymTensor, states?: readonly LayerState[], stream?: SymTensor[]): ChunkOutput {
    const dense = this.config.dense;
    const ring = new DenseHiddenRing<SymTensor>(dense?.m ?? 0);
    let hidden = this.backbone.embedding.forward(ids);
    let residual: SymTensor | undefined;
    const next: LayerState[] = [];
    stream?.push(hidden);
    this.backbone.layers.forEach((layer, l) => {
      residual = residual ? hidden.add(residual) : hidden;
      const u = layer.norm.forward(residual);
      let hooks: MixerHooks = {};
      if (dense && layer.mixer instanceof DenseMambaMixer) {
        hooks = denseHooks(layer.mixer.dense_transitions, layer.mixer.fusion, u, [...ring.items()].reverse(), dense.fuse);
      }
      const r = layer.mixer.forward(u, states?.[l], hooks);
      hidden = r.out;
      next.push(r.state);
      ring.push(dense?.fuse === "input" ? r.x : r.h);
      stream?.push(hidden.add(residual));
    });
    const final = this.backbone.norm_f.forward(residual ? hidden.add(residual) : hidden);
    return { logits: this.lm_head.forward(final), states: next };
  }

  /**
   * Full-sequence logits for ids [B, L]: the sequence is streamed through `forwardChunk` in chunks
   * of `chunkSize` tokens (default: config.scanChunkSize), each continuing from the previous
   * chunk's state, so no more than B·E·chunk·N of scan state is alive at once. `stream`, when
   * given, receives the residual stream (see forwardChunk) over the whole sequence.
   */
  forward(ids: SymTensor, chunkSize = this.config.scanChunkSize, stream?: SymTensor[]): ChunkOutput {
    const L = ids.dim(1);
    const logits: SymTensor[] = [];
    const chunkStreams: SymTensor[][] = [];
    let states: LayerState[] | undefined;
    for (let start = 0; start < L; start += chunkSize) {
      const chunkStream: SymTensor[] | undefined = stream ? [] : undefined;
      const out = this.forwardChunk(ids.slice(1, start, Math.min(L, start + chunkSize)), states, chunkStream);
      logits.push(out.logits);
      if (chunkStream) chunkStreams.push(chunkStream);
      states = out.states;
    }
    stream?.push(...chunkStreams[0]!.map((_, i) => ops.concat(chunkStreams.map((s) => s[i]!), 1)));
    return { logits: ops.concat(logits, 1), states: states! };
  }
}
