import type { SymTensor } from "@densessm/core";

/** The three computation forms; one set of parameters serves all. */
export type RetentionMode = "parallel" | "recurrent" | "chunkwise";

/**
 * What a retention layer needs besides its input, prepared once per graph by the model:
 * theta-shift tables for the positions in the graph, and the form-specific decay data.
 */
export interface RetentionContext {
  mode: RetentionMode;
  /** sin/cos of the positions being computed: [L, dk] shared by the batch, or [B, 1, L, dk] per row. */
  sin: SymTensor;
  cos: SymTensor;
  /** Per-head decays γ_h. */
  gammas: readonly number[];
  /**
   * parallel: divide each score row by its detached, clamped abs-sum as the official code does
   * (default true). The divisor cancels in the group norm except through its eps, so turning it off
   * gives exactly the retention the recurrent and chunkwise forms compute.
   */
  rowNormalize?: boolean;
  /** chunkwise: chunk size and the absolute position of the first token. */
  chunkSize?: number;
  start?: number;
  /** recurrent: per-step carry/inject factors [B, L, H] (each row at its own positions). */
  carry?: SymTensor;
  inject?: SymTensor;
  /** When given, each layer appends its group-norm output [B, L, H·dv] here (for tests and analysis). */
  taps?: SymTensor[];
}
