import { DenseSSMError, Session, type CausalLM } from "@densessm/core";
import { fromPretrained as loadTokenizer, type Tokenizer } from "@densessm/tokenizer";
import { resolveModelDir } from "./checkpoint.js";
import { evaluatePerplexity, type PerplexityOptions, type PerplexityReport } from "./evaluate.js";
import { generateText, type GenerateOptions, type TextPiece } from "./generate.js";
import { assertVocabularyFits, loadModel } from "./models.js";

export interface LoadProgress {
  status: "loading" | "done";
  /** What is being loaded: "model", "tokenizer" or "backend". */
  item: string;
  path: string;
}

export interface FromPretrainedOptions {
  /** Backend name (default: the best available). */
  backend?: string;
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
    session.setParameters(lm.module.namedParameters());
  }

  /** Loads a model folder, or a training run's latest checkpoint, with the tokenizer saved beside it. */
  static async fromPretrained(path: string, options: FromPretrainedOptions = {}): Promise<LanguageModel> {
    const progress = options.onProgress ?? (() => {});
    const dir = await resolveModelDir(path);
    progress({ status: "loading", item: "model", path: dir });
    const lm = await loadModel(dir);
    progress({ status: "done", item: "model", path: dir });
    progress({ status: "loading", item: "tokenizer", path: dir });
    let tokenizer: Tokenizer;
    try {
      tokenizer = await loadTokenizer(dir);
    } catch (e) {
      throw new DenseSSMError(`${dir}: no usable tokenizer beside the model (${(e as Error).message})`);
    }
    progress({ status: "done", item: "tokenizer", path: dir });
    progress({ status: "loading", item: "backend", path: options.backend ?? "best available" });
    const session = await Session.create(options.backend);
    progress({ status: "done", item: "backend", path: session.backend.name });
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
