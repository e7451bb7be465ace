import { DecodeStream, type Tokenizer } from "@densessm/tokenizer";

/**
 * Generated tokens of one sequence as text, piece by piece: pieces are complete UTF-8 (byte-fallback
 * tokens split across steps never print garbage) and never include a stop string or what follows
 * it. What could still turn out to be the start of a stop string is held back until it cannot.
 */
export class TextStream {
  private readonly decode: DecodeStream;
  private readonly stops: readonly string[];
  private readonly holdBack: number;
  private pending = "";
  private stopped = false;

  constructor(tokenizer: Tokenizer, prompt: readonly number[], stop: readonly string[] = []) {
    this.stops = stop.filter((s) => s.length > 0);
    this.holdBack = Math.max(0, ...this.stops.map((s) => s.length - 1));
    // The stream first swallows the prompt, so the continuation decodes in context (SentencePiece
    // would otherwise drop the leading space of the first generated word).
    this.decode = new DecodeStream(tokenizer, { skipSpecialTokens: true });
    this.decode.pushMany(prompt);
  }

  /** Whether a stop string has appeared (later tokens are ignored). */
  get done(): boolean {
    return this.stopped;
  }

  /** Adds a generated token; returns the text that became final ("" if none). */
  push(token: number): string {
    if (this.stopped) return "";
    const text = this.pending + this.decode.push(token);
    const hit = this.stops.map((s) => text.indexOf(s)).filter((i) => i >= 0);
    if (hit.length) {
      this.stopped = true;
      this.pending = "";
      return text.slice(0, Math.min(...hit));
    }
    const safe = text.length - this.holdBack;
    if (safe <= 0) {
      this.pending = text;
      return "";
    }
    this.pending = text.slice(safe);
    return text.slice(0, safe);
  }

  /** Ends the sequence: the text held back (and an unfinished character, as U+FFFD). */
  flush(): string {
    if (this.stopped) return "";
    const rest = this.pending + this.decode.flush();
    this.pending = "";
    const hit = this.stops.map((s) => rest.indexOf(s)).filter((i) => i >= 0);
    if (hit.length) this.stopped = true;
    return hit.length ? rest.slice(0, Math.min(...hit)) : rest;
  }
}
