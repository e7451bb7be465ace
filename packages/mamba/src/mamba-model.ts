import type { ChunkOutput, FamilyModel, LoadStateDictOptions, SequenceForm, StateSpec, SymTensor, Tensor } from "@densessm/core";
import { toStateSpacesLayout } from "./checkpoint.js";
import type { MambaConfig } from "./config.js";
import type { LayerState } from "./mixer.js";
import type { MambaLMHeadModel } from "./model.js";

/** Layer l's depthwise-convolution window [B, d_conv, E] (time-major) and selective-scan state [B, E, N]. */
export const convState = (layer: number): string => `conv.${layer}`;
export const ssmState = (layer: number): string => `ssm.${layer}`;

/**
 * Mamba / DenseMamba as a model family's model: the full-sequence form (the scan streamed in chunks
 * of config.scanChunkSize inside one graph) and chunks of any length continuing from every layer's
 * conv and SSM state (`Mamba.step` at length 1). Nothing is position-dependent.
 */
export class MambaModel implements FamilyModel<MambaConfig> {
  readonly sequenceForms: readonly SequenceForm[] = ["parallel"];
  readonly states: readonly StateSpec[];

  constructor(
    readonly config: MambaConfig,
    readonly module: MambaLMHeadModel,
  ) {
    const { dInner, dConv, dState, nLayer } = config;
    this.states = Array.from({ length: nLayer }, (_, l) => [
      { name: convState(l), dtype: "float32" as const, shape: (batch: number) => [batch, dConv, dInner] },
      { name: ssmState(l), dtype: "float32" as const, shape: (batch: number) => [batch, dInner, dState] },
    ]).flat();
  }

  get kind(): string {
    return this.config.isDense ? "dense-mamba" : "mamba";
  }

  get defaultChunkSize(): number {
    return this.config.scanChunkSize;
  }

  sequence(ids: SymTensor): SymTensor {
    return this.module.forward(ids).logits;
  }

  /** The embedding output and every layer's output (hidden + residual), as transformers' output_hidden_states. */
  hiddenStates(ids: SymTensor): SymTensor[] {
    const stream: SymTensor[] = [];
    this.module.forward(ids, undefined, stream);
    return stream;
  }

  chunk(ids: SymTensor, state: Readonly<Record<string, SymTensor>>): ChunkOutput {
    const layers: LayerState[] = Array.from({ length: this.config.nLayer }, (_, l) => ({ conv: state[convState(l)]!, ssm: state[ssmState(l)]! }));
    const out = this.module.forwardChunk(ids, layers);
    const next: Record<string, SymTensor> = {};
    out.states.forEach((s, l) => {
      next[convState(l)] = s.conv;
      next[ssmState(l)] = s.ssm;
    });
    return { logits: out.logits, state: next };
  }

  /** Either checkpoint layout (state-spaces or transformers); a tied head may be stored once or twice. */
  loadStateDict(tensors: ReadonlyMap<string, Tensor>, options: LoadStateDictOptions = {}): void {
    this.module.loadStateDict(toStateSpacesLayout(tensors), options);
  }

  /** The state-spaces layout; a tied head is written under both names, as the official state_dict has it. */
  stateDict(): Map<string, Tensor> {
    return this.module.stateDict();
  }
}
