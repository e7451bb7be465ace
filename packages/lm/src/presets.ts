import { DenseSSMError } from "@densessm/core";

/**
 * Named model shapes for `train --model <preset>`. Each builds a config.json (in its family's own
 * format) for a given vocabulary. The tiny presets train in minutes on two CPU cores; the small
 * ones are for real runs. Dense and plain variants of a family have nearly equal parameter counts,
 * so comparisons between them are fair (`compare` reports the exact counts).
 */
export const PRESETS = {
  "dense-retnet-tiny": (vocab: number) => denseGauRetNet(vocab, { hidden: 128, layers: 4, keyDim: 64, dense: 2 }),
  "dense-retnet-small": (vocab: number) => denseGauRetNet(vocab, { hidden: 256, layers: 6, keyDim: 128, dense: 2 }),
  // torchscale's RetNet has a GLU FFN that GAU-RetNet does without, so its value width and FFN are
  // narrowed until the parameter count matches the dense-retnet preset of the same size.
  "retnet-tiny": (vocab: number) => retNet(vocab, { hidden: 128, value: 128, layers: 4, ffn: 96 }),
  "retnet-small": (vocab: number) => retNet(vocab, { hidden: 256, value: 256, layers: 6, ffn: 184 }),
  "mamba-tiny": (vocab: number) => mamba(vocab, { dModel: 128, layers: 4 }),
  "mamba-small": (vocab: number) => mamba(vocab, { dModel: 256, layers: 6 }),
  "dense-mamba-tiny": (vocab: number) => mamba(vocab, { dModel: 128, layers: 4, dense: true }),
  "dense-mamba-small": (vocab: number) => mamba(vocab, { dModel: 256, layers: 6, dense: true }),
} satisfies Record<string, (vocab: number) => Record<string, unknown>>;

export type PresetName = keyof typeof PRESETS;

export function isPreset(name: string): name is PresetName {
  return Object.hasOwn(PRESETS, name);
}

export function presetConfig(name: string, vocabSize: number): Record<string, unknown> {
  if (!isPreset(name)) throw new DenseSSMError(`unknown model preset "${name}" (presets: ${Object.keys(PRESETS).join(", ")}; or pass a config.json path)`);
  return PRESETS[name](vocabSize);
}

/** DenseGAU-RetNet in the official GitHub config format (model_type "llama"). */
function denseGauRetNet(vocab: number, s: { hidden: number; layers: number; keyDim: number; dense: number }): Record<string, unknown> {
  return {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    hidden_act: "silu",
    hidden_size: s.hidden,
    query_key_dim: s.keyDim,
    num_attention_heads: 2,
    num_hidden_layers: s.layers,
    v_factor: 2,
    dense_block_layers: s.dense,
    vocab_size: vocab,
    rms_norm_eps: 1e-6,
    layernorm_eps: 1e-5,
    retnorm: false,
    deepnorm: false,
    tie_word_embeddings: false,
    initializer_range: 0.02,
    max_position_embeddings: 2048,
    bos_token_id: 1,
    eos_token_id: 2,
    pad_token_id: 0,
    torch_dtype: "float32",
    use_cache: false,
    dropout: 0,
  };
}

/** torchscale's RetNet (swish gate, GLU FFN) in its own config format. */
function retNet(vocab: number, s: { hidden: number; value: number; layers: number; ffn: number }): Record<string, unknown> {
  return {
    model_type: "retnet",
    decoder_embed_dim: s.hidden,
    decoder_value_embed_dim: s.value,
    decoder_retention_heads: 2,
    decoder_ffn_embed_dim: s.ffn,
    decoder_layers: s.layers,
    vocab_size: vocab,
    activation_fn: "swish",
    layernorm_eps: 1e-6,
    dense_block_layers: 0,
    no_scale_embedding: true,
    share_decoder_input_output_embed: false,
    decoder_normalize_before: true,
    deepnorm: false,
  };
}

/** state-spaces Mamba (with a `dense` section for DenseMamba). */
function mamba(vocab: number, s: { dModel: number; layers: number; dense?: boolean }): Record<string, unknown> {
  return {
    d_model: s.dModel,
    n_layer: s.layers,
    vocab_size: vocab,
    ssm_cfg: { d_state: 16 },
    rms_norm: true,
    residual_in_fp32: true,
    fused_add_norm: true,
    pad_vocab_size_multiple: 8,
    tie_embeddings: true,
    ...(s.dense ? { dense: {} } : {}),
  };
}
