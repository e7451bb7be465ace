import type { DecodeOptions, Tokenizer } from "./tokenizer.js";

/**
 * Incremental decoding for generation: feed token ids one at a time and get back only the text that
 * became final. Bytes are held back until they form complete UTF-8, so a character split across
 * byte-fallback tokens (`<0xF0> <0x9F> <0xA6> <0x99>` for 🦙) appears once, whole, on the step that
 * completes it, and never as replacement characters. Concatenating every `push` result and the
 * final `flush` gives exactly `tokenizer.decode(allIds, options)`.
 */
export class DecodeStream {
  // TextDecoder's streaming mode is the standard incremental UTF-8 decoder: it emits complete
  // characters, keeps an incomplete tail for the next call, and turns bytes that can never become
  // valid into U+FFFD right away, the same way a one-shot decode does.
  private readonly utf8 = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
  private readonly skipSpecial: boolean;
  private stripRemaining: number;
  private first = true;

  constructor(
    private readonly tokenizer: Tokenizer,
    options: DecodeOptions = {},
  ) {
    this.skipSpecial = options.skipSpecialTokens === true;
    this.stripRemaining = tokenizer.decodeStripsLeadingSpaces;
  }

  /** Adds one token; returns the text it completes (often "", for a partial character). */
  push(id: number): string {
    if (this.skipSpecial && this.tokenizer.isSpecialTokenId(id)) return "";
    const bytes = this.tokenizer.tokenBytes(id, this.first);
    this.first = false;
    return this.strip(this.utf8.decode(bytes, { stream: true }));
  }

  /** Adds several tokens; returns the text they complete. */
  pushMany(ids: Iterable<number>): string {
    let text = "";
    for (const id of ids) text += this.push(id);
    return text;
  }

  /** Ends the stream: bytes still pending (an unfinished character) come out as U+FFFD. */
  flush(): string {
    return this.strip(this.utf8.decode());
  }

  // The decoder's leading-space strip (sentencepiece's dummy prefix) applies to the start of the
  // whole text, so it is consumed by the first non-empty output only.
  private strip(text: string): string {
    if (this.stripRemaining === 0 || text.length === 0) return text;
    let n = 0;
    while (n < this.stripRemaining && text.charCodeAt(n) === 0x20) n++;
    this.stripRemaining = n === text.length ? this.stripRemaining - n : 0;
    return text.slice(n);
  }
}
