import { FormatError, type Tensor } from "@densessm/core";

/** The layouts a checkpoint may come in. */
export type CheckpointLayout = "state-spaces" | "transformers";

const HF_EMBEDDING = "backbone.embeddings.weight";
const SS_EMBEDDING = "backbone.embedding.weight";

/** Which layout a state dict is in: transformers names the embedding `embeddings`, state-spaces `embedding`. */
export function detectLayout(tensors: ReadonlyMap<string, Tensor>): CheckpointLayout {
  if (tensors.has(HF_EMBEDDING)) return "transformers";
  if (tensors.has(SS_EMBEDDING)) return "state-spaces";
  throw new FormatError(`checkpoint: no embedding tensor ("${SS_EMBEDDING}" or "${HF_EMBEDDING}"); is this a Mamba checkpoint?`);
}

/**
 * Renames a checkpoint into the state-spaces layout. Apart from the embedding's name, transformers'
 * MambaForCausalLM uses the state-spaces names (mixer.in_proj, conv1d, x_proj, dt_proj, A_log, D,
 * out_proj, norm, norm_f, lm_head). A tied head stored once or twice is core's `loadStateDict` job.
 */
export function toStateSpacesLayout(tensors: ReadonlyMap<string, Tensor>): Map<string, Tensor> {
  const layout = detectLayout(tensors);
  if (layout === "state-spaces") return new Map(tensors);
  return new Map([...tensors].map(([name, t]) => [name === HF_EMBEDDING ? SS_EMBEDDING : name, t]));
}
