import { Session, type CausalLM, type FileProgress } from "@densessm/core";
import type { Tokenizer } from "@densessm/tokenizer";
import { evaluatePerplexity, type PerplexityOptions, type PerplexityReport } from "./evaluate.js";
import { generateText, type GenerateOptions, type TextPiece } from "./generate.js";
import { assertVocabularyFits, loadPretrained, type ModelSource, type PretrainedOptions } from "./pretrained.js";

/** Loading progress: each file as it is read or downloaded, then the model ready on its backend. */
export type LoadProgress = FileProgress | { readonly status: "ready"; readonly model: string; readonly backend: string };

export interface FromPretrainedOptions extends Omit<PretrainedOptions, "onProgress"> {
  /** Backend name (default: the best available). */
  backend?: string;
  /** "bf16": bfloat16 matrix products (f32 accumulation), on backends that have them (cuda). Default "f32". */
  dtype?: "f32" | "bf16";
  onProgress?: (event: LoadProgress) => void;
}

/**
 * A model with its tokenizer, ready on a backend: the high-level API.
 *
 *     const model = await LanguageModel.fromPretrained("runs/default");
 *     for await (const piece of model.generate("ROMEO:", { maxNewTokens: 50, temperature: 0.8 }))
 *       process.stdout.write(piece);
 */
export class LanguageModel {
  constructor(
    readonly lm: CausalLM,
    readonly tokenizer: Tokenizer,
    readonly session: Session,
  ) {
    assertVocabularyFits(lm, tokenizer.vocabSize, "LanguageModel");
    lm.bind(session);
  }

  /**
   * Loads a model folder, a training run's latest checkpoint, a URL of a model folder, or picked
   * files (any `ModelSource`), with the tokenizer saved beside it, onto a backend.
   */
  static async fromPretrained(source: ModelSource, options: FromPretrainedOptions = {}): Promise<LanguageModel> {
    // The backend first: an unavailable one (no GPU) is reported before a large model is read.
    const session = await Session.create(options.backend, { dtype: options.dtype });
    const { lm, tokenizer } = await loadPretrained(source, options);
    options.onProgress?.({ status: "ready", model: lm.family, backend: session.backend.name });
    return new LanguageModel(lm, tokenizer, session);
  }

  /** Streams the continuation of one prompt, piece by piece; honours `options.signal`. */
  async *generate(prompt: string, options: GenerateOptions = {}): AsyncGenerator<string> {
    for await (const piece of generateText(this.lm, this.tokenizer, this.session, [prompt], options)) yield piece.text;
  }

  /** Streams continuations of several prompts at once (one batch), tagged with their index. */
  generateBatch(prompts: readonly string[], options: GenerateOptions = {}): AsyncGenerator<TextPiece> {
    return generateText(this.lm, this.tokenizer, this.session, prompts, options);
  }

  /** The whole continuation of one prompt. */
  async complete(prompt: string, options: GenerateOptions = {}): Promise<string> {
    let text = "";
    for await (const piece of this.generate(prompt, options)) text += piece;
    return text;
  }

  /** Perplexity of a text (token-level, per word and bits per byte). */
  perplexity(text: string, options: PerplexityOptions = {}): Promise<PerplexityReport> {
    const tokens = Int32Array.from(this.tokenizer.encode(text, { addSpecialTokens: false }));
    const words = text.split(/\s+/).filter(Boolean).length;
    return evaluatePerplexity(this.lm, this.session, tokens, { bytes: new TextEncoder().encode(text).length, words }, options);
  }
}
