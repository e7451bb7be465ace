import type { Preset } from "@densessm/core";

// Named shapes for `train --model <preset>`: state-spaces Mamba and DenseMamba of nearly equal size
// (DenseMamba's gates add a few percent; `compare` reports the exact counts).

export const MAMBA_PRESETS: Readonly<Record<string, Preset>> = {
  "mamba-tiny": (vocab) => mamba(vocab, { dModel: 128, layers: 4 }),
  "mamba-small": (vocab) => mamba(vocab, { dModel: 256, layers: 6 }),
  "dense-mamba-tiny": (vocab) => mamba(vocab, { dModel: 128, layers: 4, dense: true }),
  "dense-mamba-small": (vocab) => mamba(vocab, { dModel: 256, layers: 6, dense: true }),
};

/** state-spaces Mamba (with a `dense` section for DenseMamba). */
function mamba(vocab: number, s: { dModel: number; layers: number; dense?: boolean }): Record<string, unknown> {
  return {
    d_model: s.dModel,
    n_layer: s.layers,
    vocab_size: vocab,
    ssm_cfg: { d_state: 16 },
    rms_norm: true,
    pad_vocab_size_multiple: 8,
    tie_embeddings: true,
    ...(s.dense ? { dense: {} } : {}),
  };
}
