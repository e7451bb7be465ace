// What the device check runs: the shape on a GPU, a tiny one on the mock driver (or with --small).

/** The model the issue names: DenseGAU-RetNet in the released 350M layout (373,277,184 parameters). */
export const RELEASED_350M = {
  model_type: "DenseGauRetNet", hidden_size: 1536, query_key_dim: 768, num_attention_heads: 2, num_hidden_layers: 16, v_factor: 2,
  dense_block_layers: 2, intermediate_k_select_scale: 8, intermediate_v_select_scale: 32, vocab_size: 32001, rms_norm_eps: 1e-6,
  max_position_embeddings: 2048, tie_word_embeddings: false,
};

/** The same layout at a size the interpreter runs in seconds. */
const TINY = { ...RELEASED_350M, hidden_size: 64, query_key_dim: 32, num_hidden_layers: 2, vocab_size: 97 };

export const SHAPES = {
  full: { config: RELEASED_350M, batch: 4, seq: 2048, trainSteps: 3, prompt: 16, decodeTokens: 64 },
  small: { config: TINY, batch: 2, seq: 32, trainSteps: 2, prompt: 4, decodeTokens: 8 },
};

export type Shape = (typeof SHAPES)["full"] | (typeof SHAPES)["small"];
