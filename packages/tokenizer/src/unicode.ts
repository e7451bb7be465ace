// UTF-8 and code-point helpers shared by the encoder, decoder and trainer. Browser-safe: only
// TextEncoder/TextDecoder, which every runtime we target provides.

const encoder = new TextEncoder();

/** UTF-8 bytes of `text`; lone surrogates become U+FFFD's bytes (EF BF BD), as TextEncoder does. */
export function utf8Bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

/**
 * Writes the UTF-8 bytes of code point `cp` via `push` (arithmetically: calling TextEncoder for a
 * single character costs an allocation, and byte fallback does this for every unknown character).
 * Surrogate code points are written as U+FFFD, as TextEncoder would.
 */
export function pushUtf8(cp: number, push: (byte: number) => void): void {
  if (cp < 0x80) push(cp);
  else if (cp < 0x800) {
    push(0xc0 | (cp >> 6));
    push(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
    push(0xe0 | (cp >> 12));
    push(0x80 | ((cp >> 6) & 0x3f));
    push(0x80 | (cp & 0x3f));
  } else {
    push(0xf0 | (cp >> 18));
    push(0x80 | ((cp >> 12) & 0x3f));
    push(0x80 | ((cp >> 6) & 0x3f));
    push(0x80 | (cp & 0x3f));
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/gu;

interface WellFormedString {
  isWellFormed?(): boolean;
  toWellFormed?(): string;
}

/**
 * Replaces lone surrogates with U+FFFD. Tokenizers define their vocabulary over Unicode scalar
 * values; a lone surrogate has no UTF-8 encoding, so every path (ours, sentencepiece, HF) ends up
 * treating it as U+FFFD. Doing it once up front keeps encode and decode consistent with each other.
 */
export function toWellFormed(text: string): string {
  const s = text as unknown as WellFormedString;
  if (s.isWellFormed !== undefined && s.toWellFormed !== undefined) {
    return s.isWellFormed() ? text : s.toWellFormed();
  }
  return text.replace(LONE_SURROGATE, "\uFFFD");
}

/** `<0x0A>`-style piece for a byte, as sentencepiece and HF's byte fallback spell it. */
export function bytePiece(byte: number): string {
  return `<0x${byte.toString(16).toUpperCase().padStart(2, "0")}>`;
}

const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;

/** The byte a `<0xNN>` piece stands for, or -1 when `piece` is not a byte piece. */
export function parseBytePiece(piece: string): number {
  const m = BYTE_PIECE.exec(piece);
  return m === null ? -1 : parseInt(m[1] as string, 16);
}

/**
 * GPT-2's reversible byte → printable-character map used by byte-level BPE: printable Latin-1
 * bytes map to themselves, the rest are shifted to U+0100 and up so no vocabulary entry contains
 * whitespace or control characters.
 */
export function byteLevelAlphabet(): string[] {
  const chars: string[] = new Array<string>(256);
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    chars[b] = String.fromCharCode(printable ? b : 256 + shifted++);
  }
  return chars;
}

/** Inverse of {@link byteLevelAlphabet}: char code → byte, -1 for chars outside the alphabet. */
export function byteLevelDecodeTable(): Int16Array {
  const table = new Int16Array(512).fill(-1);
  byteLevelAlphabet().forEach((ch, b) => {
    table[ch.charCodeAt(0)] = b;
  });
  return table;
}
