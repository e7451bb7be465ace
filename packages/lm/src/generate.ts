import { DenseSSMError, Rng, type CausalLM, type Decoder, type Session, type TokenDraw } from "@densessm/core";
import type { Tokenizer } from "@densessm/tokenizer";
import { checkSeed } from "./seed.js";
import { TextStream } from "./text-stream.js";

export interface GenerateOptions {
  /** Tokens to generate per prompt (default 64). */
  maxNewTokens?: number;
  /** 0 (the default) is greedy decoding. */
  temperature?: number;
  topK?: number;
  topP?: number;
  /** > 1 discourages tokens already in the row, prompt included (applied on the backend). */
  repetitionPenalty?: number;
  /** Seed of the sampler (default 0): the same seed gives the same text. */
  seed?: number;
  /** Generation of a row ends when its text contains one of these (which is not emitted). */
  stop?: readonly string[];
  /** End a row at the tokenizer's EOS token (default true). */
  stopAtEos?: boolean;
  signal?: AbortSignal;
}

export interface GeneratedToken {
  row: number;
  token: number;
}

/**
 * The decoding loop over token ids. Prompts may differ in length: all rows are prefilled to the
 * shortest prompt's length, and longer prompts feed their remaining tokens during the first
 * decoding steps (no padding enters any row's state).
 *
 * Tokens are drawn on the backend (`ops.sample`, in the same graph run as the decoding step, after
 * the repetition penalty when there is one), so each step reads back one id per row.
 */
export async function* generateTokens(lm: CausalLM, session: Session, prompts: readonly (readonly number[])[], options: GenerateOptions & { vocabSize?: number; eosTokenId?: number } = {}): AsyncGenerator<GeneratedToken> {
  const maxNew = options.maxNewTokens ?? 64;
  if (!Number.isInteger(maxNew) || maxNew < 0) throw new DenseSSMError(`maxNewTokens must be a non-negative integer, got ${maxNew}`);
  if (prompts.length === 0 || prompts.some((p) => p.length === 0)) throw new DenseSSMError("generate: every prompt needs at least one token (add a BOS token for empty text)");
  if (options.seed !== undefined) checkSeed(options.seed, "seed");
  const rng = new Rng(options.seed ?? 0);
  const draw = (): TokenDraw => ({
    temperature: options.temperature ?? 0,
    topK: options.topK ?? 0,
    topP: options.topP ?? 1,
    repetitionPenalty: options.repetitionPenalty ?? 1,
    vocabSize: Math.min(options.vocabSize ?? lm.vocabSize, lm.vocabSize),
    uniforms: Float32Array.from(prompts, () => rng.uniform()),
  });
  const shortest = Math.min(...prompts.map((p) => p.length));
  const position = prompts.map(() => shortest);
  const produced = prompts.map(() => 0);
  const done = prompts.map(() => maxNew === 0);
  options.signal?.throwIfAborted();
  const decoder = await lm.startDecoding(session, prompts.map((p) => p.slice(0, shortest)));
  try {
    await checkFiniteLogits(decoder);
    let drawn = await decoder.sample(draw());
    while (!done.every(Boolean)) {
      options.signal?.throwIfAborted();
      const sampled: GeneratedToken[] = [];
      const next = prompts.map((prompt, row) => {
        const at = position[row]!;
        if (at < prompt.length) {
          position[row] = at + 1;
          return prompt[at]!; // still feeding the prompt
        }
        if (done[row]) return 0; // finished rows idle; what they compute is ignored
        const token = drawn[row]!;
        sampled.push({ row, token });
        if (++produced[row]! >= maxNew || (options.stopAtEos !== false && token === options.eosTokenId)) done[row] = true;
        return token;
      });
      yield* sampled;
      if (done.every(Boolean)) break;
      drawn = await decoder.step(next, draw());
    }
  } finally {
    decoder.dispose();
  }
}

/**
 * Non-finite logits after the prompt mean broken weights (or an overflow): every draw from them
 * would be token 0 and the text silently empty, so they are an error naming the row.
 */
async function checkFiniteLogits(decoder: Decoder): Promise<void> {
  const logits = await decoder.logits();
  const [rows, vocab] = logits.shape as [number, number];
  const values = logits.toFloat32();
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < vocab; j++) {
      if (!Number.isFinite(values[r * vocab + j]!)) throw new DenseSSMError(`generate: the model's logits for prompt ${r} are not finite (${values[r * vocab + j]} at token ${j}); its weights hold NaN/Inf or overflow`);
    }
  }
}

export interface TextPiece {
  /** Which prompt this piece continues. */
  index: number;
  text: string;
}

/**
 * Streams generated text for each prompt. Pieces are emitted only as complete UTF-8 (byte-fallback
 * tokens split across steps never print garbage) and never include a stop string or what follows.
 */
export async function* generateText(lm: CausalLM, tokenizer: Tokenizer, session: Session, prompts: readonly string[], options: GenerateOptions = {}): AsyncGenerator<TextPiece> {
  const ids = prompts.map((p) => tokenizer.encode(p));
  const streams = ids.map((prompt) => new TextStream(tokenizer, prompt, options.stop));
  for await (const { row, token } of generateTokens(lm, session, ids, { ...options, vocabSize: tokenizer.vocabSize, eosTokenId: tokenizer.eosTokenId })) {
    const text = streams[row]!.push(token);
    if (text) yield { index: row, text };
  }
  for (const [row, stream] of streams.entries()) {
    const rest = stream.flush();
    if (rest) yield { index: row, text: rest };
  }
}
