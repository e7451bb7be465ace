import { Session, type CausalLM } from "@densessm/core";
import { generateTokens } from "@densessm/lm";
import { DecodeStream, type Tokenizer } from "@densessm/tokenizer";

export interface GenerationStats {
  tokens: number;
  /** Prompt processing plus the first token, in milliseconds. */
  firstTokenMs: number;
  /** Decoding speed after the first token (undefined until there are two tokens). */
  tokensPerSecond: number | undefined;
}

export interface GenerationRequest {
  lm: CausalLM;
  tokenizer: Tokenizer;
  session: Session;
  prompt: string;
  maxNewTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  signal: AbortSignal;
  onToken: (event: { token: number; text: string; stats: GenerationStats }) => void;
}

/**
 * Streams one prompt's continuation, reporting every token with its decoded text and running speed.
 * Returns the prompt's and the generated token ids.
 */
export async function generate(request: GenerationRequest): Promise<{ promptIds: number[]; tokens: number[]; stats: GenerationStats }> {
  const { lm, tokenizer, session } = request;
  const promptIds = tokenizer.encode(request.prompt);
  const stream = new DecodeStream(tokenizer, { skipSpecialTokens: true });
  stream.pushMany(promptIds); // so the first generated piece decodes in context
  const tokens: number[] = [];
  const stats: GenerationStats = { tokens: 0, firstTokenMs: 0, tokensPerSecond: undefined };
  const start = performance.now();
  let first = start;
  const options = { maxNewTokens: request.maxNewTokens, temperature: request.temperature, topK: request.topK, topP: request.topP, vocabSize: tokenizer.vocabSize, signal: request.signal, ...(tokenizer.eosTokenId === undefined ? {} : { eosTokenId: tokenizer.eosTokenId }) };
  for await (const { token } of generateTokens(lm, session, [promptIds], options)) {
    const now = performance.now();
    tokens.push(token);
    if (tokens.length === 1) {
      first = now;
      stats.firstTokenMs = now - start;
    } else stats.tokensPerSecond = ((tokens.length - 1) * 1000) / (now - first);
    stats.tokens = tokens.length;
    request.onToken({ token, text: stream.push(token), stats });
    // The CPU backend computes synchronously: yield a macrotask so a Stop message can arrive before
    // the next token is computed.
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  const rest = stream.flush();
  if (rest) request.onToken({ token: -1, text: rest, stats });
  return { promptIds, tokens, stats };
}

/**
 * One session per backend name for the current model, created on first use. Loading another model
 * disposes them, so its weights replace the old ones on the device instead of sitting beside them.
 */
export class Sessions {
  private readonly sessions = new Map<string, Promise<Session>>();

  constructor(private readonly lm: CausalLM) {}

  get(backend: string): Promise<Session> {
    let pending = this.sessions.get(backend);
    if (!pending) {
      pending = Session.create(backend).then((session) => {
        this.lm.bind(session);
        return session;
      });
      this.sessions.set(backend, pending);
      pending.catch(() => this.sessions.delete(backend)); // a failed start may be retried
    }
    return pending;
  }

  dispose(): void {
    for (const pending of this.sessions.values()) pending.then((s) => s.dispose(), () => {});
    this.sessions.clear();
  }
}
