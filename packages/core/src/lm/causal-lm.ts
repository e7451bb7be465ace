import type { Graph } from "../graph/graph.js";
import type { Module } from "../nn/module.js";
import type { Session } from "../runtime/session.js";
import type { Tensor } from "../tensor/tensor.js";

/** How a sequence is run: all positions at once, token by token, or chunk by chunk. */
export type ForwardMode = "parallel" | "recurrent" | "chunkwise";

/**
 * A draw made on the backend by `ops.sample` (see there): temperature 0 (the default) is greedy,
 * topK 0 and topP 1 (the defaults) are off. `uniforms` holds one number in [0, 1) per row.
 */
export interface TokenDraw {
  readonly temperature?: number;
  readonly topK?: number;
  readonly topP?: number;
  /** Only the first `vocabSize` logits are candidates (models may pad their vocabulary). */
  readonly vocabSize?: number;
  readonly uniforms: Float32Array;
}

/** Incremental decoding: the state after the tokens fed so far, kept on the backend. */
export interface Decoder {
  readonly batch: number;
  /** Logits [batch, vocab] for the next token of each row, read back from the backend. */
  logits(): Promise<Tensor>;
  /** Draws the next token of each row on the backend from the current logits; only the ids are read back. */
  sample(draw: TokenDraw): Promise<Int32Array>;
  /**
   * Feeds one token per row. With a draw, the same graph run also draws the token that follows
   * (so a decoded token costs one run and a read of `batch` ids) and returns it.
   */
  step(tokens: readonly number[]): Promise<void>;
  step(tokens: readonly number[], draw: TokenDraw): Promise<Int32Array>;
  /** Releases what the decoder holds on the backend. */
  dispose(): void;
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
