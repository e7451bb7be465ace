import { FormatError, type Tensor } from "@densessm/core";
import type { MambaConfig } from "./config.js";

/** The layouts a checkpoint may come in. */
export type CheckpointLayout = "state-spaces" | "transformers";

const HF_EMBEDDING = "backbone.embeddings.weight";
const SS_EMBEDDING = "backbone.embedding.weight";
const LM_HEAD = "lm_head.weight";

/** Which layout a state dict is in: transformers names the embedding `embeddings`, state-spaces `embedding`. */
export function detectLayout(tensors: ReadonlyMap<string, Tensor>): CheckpointLayout {
  if (tensors.has(HF_EMBEDDING)) return "transformers";
  if (tensors.has(SS_EMBEDDING)) return "state-spaces";
  throw new FormatError(`checkpoint: no embedding tensor ("${SS_EMBEDDING}" or "${HF_EMBEDDING}"); is this a Mamba checkpoint?`);
}

/**
 * Renames a checkpoint into the state-spaces layout and resolves the tied head. Apart from the
 * embedding's name, transformers' MambaForCausalLM uses the state-spaces names (mixer.in_proj,
 * conv1d, x_proj, dt_proj, A_log, D, out_proj, norm, norm_f, lm_head).
 *
 * A tied head may be stored once (embedding only) or twice; if twice, the two must be identical,
 * since a tied model cannot hold both.
 */
export function toStateSpacesLayout(tensors: ReadonlyMap<string, Tensor>, config: MambaConfig): Map<string, Tensor> {
  const layout = detectLayout(tensors);
  const out = new Map<string, Tensor>();
  for (const [name, t] of tensors) out.set(layout === "transformers" && name === HF_EMBEDDING ? SS_EMBEDDING : name, t);
  if (config.tieEmbeddings) {
    const embedding = out.get(SS_EMBEDDING)!;
    const head = out.get(LM_HEAD);
    if (head && !sameValues(head, embedding)) {
      throw new FormatError(`checkpoint: the config ties the embeddings, but "${LM_HEAD}" differs from the embedding; set tie_embeddings (tie_word_embeddings) to false to load them separately`);
    }
    out.set(LM_HEAD, embedding);
  }
  return out;
}

function sameValues(a: Tensor, b: Tensor): boolean {
  if (a.shape.join() !== b.shape.join()) return false;
  if (a.dtype === b.dtype) {
    const x = new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
    const y = new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength);
    return x.length === y.length && x.every((v, i) => v === y[i]);
  }
  const x = a.toFloat32();
  const y = b.toFloat32();
  return x.every((v, i) => v === y[i]);
}
