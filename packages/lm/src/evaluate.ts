import { DenseSSMError, type CausalLM, type ForwardMode, type Session } from "@densessm/core";

export interface PerplexityOptions {
  /** Tokens the model sees at once (default 256). */
  window?: number;
  /**
   * How many new tokens each window scores (default window - 1: back-to-back chunks that share one
   * token, so every token is predicted from inside its window). A smaller stride is a sliding
   * window: each scored token then sees at least window - stride earlier tokens.
   */
  stride?: number;
  /** Which form of the model computes the logits (default parallel). */
  mode?: ForwardMode;
  /** Windows per forward call (default 8). */
  batchSize?: number;
}

export interface PerplexityReport {
  /** Tokens whose next-token probability was scored. */
  tokens: number;
  /** Mean negative log-likelihood per scored token, in nats. */
  nllPerToken: number;
  /** exp(nllPerToken): the token-level perplexity (depends on the tokenizer). */
  tokenPerplexity: number;
  /** Total NLL in bits over the UTF-8 bytes of the scored text: comparable across tokenizers. */
  bitsPerByte: number;
  /** exp(total NLL / whitespace-separated words): the word-level perplexity. */
  wordPerplexity: number;
  window: number;
  stride: number;
  mode: ForwardMode;
}

/**
 * Perplexity of a token stream. Windows start every `stride` tokens; each scores only the tokens
 * no earlier window scored, so every token is counted exactly once. `bytes` and `words` describe
 * the text the tokens came from.
 */
export async function evaluatePerplexity(lm: CausalLM, session: Session, tokens: Int32Array, text: { bytes: number; words: number }, options: PerplexityOptions = {}): Promise<PerplexityReport> {
  const window = options.window ?? 256;
  const stride = options.stride ?? window - 1;
  const mode = options.mode ?? "parallel";
  const batchSize = options.batchSize ?? 8;
  if (!lm.modes.includes(mode)) throw new DenseSSMError(`mode ${mode} is not available for ${lm.family} (available: ${lm.modes.join(", ")})`);
  if (!(Number.isInteger(window) && window >= 2)) throw new DenseSSMError(`window must be an integer >= 2, got ${window}`);
  if (!(Number.isInteger(stride) && stride >= 1 && stride < window)) throw new DenseSSMError(`stride must be an integer in [1, window - 1], got ${stride}`);
  if (tokens.length < 2) throw new DenseSSMError(`evaluation needs at least 2 tokens, got ${tokens.length}`);

  // Each window [start, start + length) scores the predictions of positions [from, start + length).
  const windows: { start: number; length: number; from: number }[] = [];
  for (let from = 1; from < tokens.length; ) {
    const to = Math.min(tokens.length, from === 1 ? window : from + stride);
    const start = Math.max(0, to - window);
    windows.push({ start, length: to - start, from });
    from = to;
  }

  let nll = 0;
  let count = 0;
  for (let i = 0; i < windows.length; ) {
    const len = windows[i]!.length;
    const group = [];
    while (i < windows.length && windows[i]!.length === len && group.length < batchSize) group.push(windows[i++]!);
    const rows = group.map((w) => Array.from(tokens.subarray(w.start, w.start + w.length)));
    const logits = (await lm.logits(session, rows, mode)).toFloat32();
    const vocab = logits.length / (group.length * len);
    group.forEach((w, r) => {
      for (let t = Math.max(1, w.from - w.start); t < w.length; t++) {
        const row = logits.subarray((r * len + t - 1) * vocab, (r * len + t) * vocab);
        let mx = -Infinity;
        for (const v of row) mx = Math.max(mx, v);
        let z = 0;
        for (const v of row) z += Math.exp(v - mx);
        nll += Math.log(z) + mx - row[tokens[w.start + t]!]!;
        count++;
      }
    });
  }
  return {
    tokens: count,
    nllPerToken: nll / count,
    tokenPerplexity: Math.exp(nll / count),
    bitsPerByte: nll / Math.LN2 / Math.max(1, text.bytes),
    wordPerplexity: Math.exp(nll / Math.max(1, text.words)),
    window,
    stride,
    mode,
  };
}
