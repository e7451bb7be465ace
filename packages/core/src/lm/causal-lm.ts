import type { Graph } from "../graph/graph.js";
import type { Module } from "../nn/module.js";
import type { Session } from "../runtime/session.js";
import type { Tensor } from "../tensor/tensor.js";

/** How a sequence is run: all positions at once, token by token, or chunk by chunk. */
export type ForwardMode = "parallel" | "recurrent" | "chunkwise";

/** Incremental decoding: the state after the tokens fed so far, kept by the model. */
export interface Decoder {
  /** Logits [batch, vocab] for the next token. */
  readonly logits: Tensor;
  /** Feeds one token per row and returns the next logits [batch, vocab]. */
  step(tokens: readonly number[]): Promise<Tensor>;
}

/**
 * The contract every model family implements (like `Backend` for backends), so training,
 * evaluation, generation and the CLI work with any of them without knowing which it is.
 */
export interface CausalLM {
  /** e.g. "dense-gau-retnet", "retnet", "mamba", "dense-mamba". */
  readonly family: string;
  /** The config.json contents (snake_case, as the checkpoint stores it). */
  readonly config: object;
  readonly vocabSize: number;
  readonly modes: readonly ForwardMode[];
  readonly module: Module;
  /** Logits [batch, length, vocab] for equal-length rows of ids. */
  logits(session: Session, ids: readonly (readonly number[])[], mode: ForwardMode): Promise<Tensor>;
  /**
   * The training graph's forward half: int32 inputs `input_ids` and `labels` [batch, length] give
   * the scalar output `loss`, the mean cross-entropy of predicting labels[t + 1] from positions
   * <= t (labels equal to -100 ignored). Cached per shape.
   */
  lossGraph(batch: number, length: number): Graph;
  /** Runs the prompts (equal length) and returns a decoder positioned after them. */
  startDecoding(session: Session, prompts: readonly (readonly number[])[]): Promise<Decoder>;
  /** Writes config.json and model.safetensors in the family's official layout. */
  save(dir: string): Promise<void>;
}
