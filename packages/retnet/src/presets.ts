import type { Preset } from "@densessm/core";

// Named shapes for `train --model <preset>`. The tiny presets train in minutes on two CPU cores;
// the small ones are for real runs. torchscale's RetNet has a GLU FFN that GAU-RetNet does without,
// so its value width and FFN are narrowed until its parameter count matches the DenseGAU-RetNet
// preset of the same size (`compare` reports the exact counts).

export const DENSE_GAU_RETNET_PRESETS: Readonly<Record<string, Preset>> = {
  "dense-retnet-tiny": (vocab) => denseGauRetNet(vocab, { hidden: 128, layers: 4, keyDim: 64, dense: 2 }),
  "dense-retnet-small": (vocab) => denseGauRetNet(vocab, { hidden: 256, layers: 6, keyDim: 128, dense: 2 }),
};

export const RETNET_PRESETS: Readonly<Record<string, Preset>> = {
  "retnet-tiny": (vocab) => retNet(vocab, { hidden: 128, value: 128, layers: 4, ffn: 96 }),
  "retnet-small": (vocab) => retNet(vocab, { hidden: 256, value: 256, layers: 6, ffn: 184 }),
};

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
