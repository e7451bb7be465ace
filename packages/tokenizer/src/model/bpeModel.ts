import { parseBytePiece, pushUtf8 } from "../unicode.js";
import { BpeMerger } from "./bpeMerge.js";
import { MergeTable } from "./mergeTable.js";

const SCRATCH_KEEP = 1 << 16;

/** One merge: `left` + `right` become `result`; lower `rank` merges first (equal ranks: leftmost). */
export interface BpeMergeRule {
  left: number;
  right: number;
  result: number;
  rank: number;
}

export interface BpeModelOptions {
  /** id → token string, as the model's vocabulary spells it (`▁the`, `Ġthe`, `<0x0A>`). */
  vocab: readonly string[];
  merges: readonly BpeMergeRule[];
  unkId: number | null;
  /** Characters missing from the vocabulary become their UTF-8 bytes as `<0xNN>` tokens. */
  byteFallback: boolean;
  /** Consecutive unknown characters produce a single unk token. */
  fuseUnk: boolean;
  /** A word that is itself a vocabulary entry is emitted as is, without merging (HF `ignore_merges`). */
  ignoreMerges?: boolean;
  /**
   * Ids that may serve as single-character starting symbols. Sentencepiece excludes control and
   * byte pieces here (`<s>` is never the spelling of the text "<s>"); HF uses the whole vocabulary.
   */
  isTextPiece?: (id: number) => boolean;
  /** Pieces that must not be emitted: replaced by the two halves that formed them (sentencepiece UNUSED). */
  unusedSplits?: ReadonlyMap<number, readonly [number, number]>;
}

/**
 * The BPE model proper: turns one pre-tokenized word into ids. Knows nothing about spaces,
 * normalization or special tokens; the {@link Tokenizer} pipeline feeds it words.
 */
export class BpeModel {
  readonly vocab: readonly string[];
  readonly unkId: number | null;
  readonly byteFallback: boolean;
  private readonly tokenToIdMap = new Map<string, number>();
  private readonly bmpIds = new Int32Array(0x10000).fill(-1);
  private readonly astralIds = new Map<number, number>();
  /** id of `<0xNN>` for each byte, -1 when absent. */
  readonly byteIds = new Int32Array(256).fill(-1);
  /** For each id, the byte a `<0xNN>` piece stands for, or -1. */
  readonly byteOfId: Int16Array;
  private readonly hasAllBytes: boolean;
  private readonly expandBytesEarly: boolean;
  private readonly fuseUnk: boolean;
  private readonly ignoreMerges: boolean;
  private readonly unusedSplits: ReadonlyMap<number, readonly [number, number]> | undefined;
  readonly mergeTable: MergeTable;
  readonly merges: readonly BpeMergeRule[];
  private readonly merger: BpeMerger;
  private symbols = new Int32Array(256);

  constructor(options: BpeModelOptions) {
    this.vocab = options.vocab;
    this.unkId = options.unkId;
    this.byteFallback = options.byteFallback;
    this.fuseUnk = options.fuseUnk;
    this.ignoreMerges = options.ignoreMerges ?? false;
    this.unusedSplits = options.unusedSplits;
    this.merges = options.merges;
    this.byteOfId = new Int16Array(options.vocab.length).fill(-1);
    const isTextPiece = options.isTextPiece ?? (() => true);
    options.vocab.forEach((token, id) => {
      if (!this.tokenToIdMap.has(token)) this.tokenToIdMap.set(token, id);
      const byte = parseBytePiece(token);
      if (byte >= 0) {
        this.byteOfId[id] = byte;
        if (this.byteIds[byte] === -1) this.byteIds[byte] = id;
      }
      if (!isTextPiece(id)) return;
      const cp = token.codePointAt(0) as number;
      if (token.length !== (cp > 0xffff ? 2 : 1)) return;
      if (cp <= 0xffff) {
        if (this.bmpIds[cp] === -1) this.bmpIds[cp] = id;
      } else if (!this.astralIds.has(cp)) this.astralIds.set(cp, id);
    });
    this.hasAllBytes = this.byteIds.every((id) => id >= 0);
    this.mergeTable = new MergeTable(options.merges.length);
    let byteMerges = false;
    for (const m of options.merges) {
      this.mergeTable.set(m.left, m.right, m.rank, m.result);
      if (this.byteOfId[m.left] !== -1 || this.byteOfId[m.right] !== -1) byteMerges = true;
    }
    // HF expands an unknown character into byte tokens before merging, sentencepiece after. The two
    // only differ when some merge takes byte tokens as input, so only then pay for expanding early.
    this.expandBytesEarly = byteMerges && this.byteFallback && this.hasAllBytes;
    this.merger = new BpeMerger(this.mergeTable);
  }

  get vocabSize(): number {
    return this.vocab.length;
  }

  tokenToId(token: string): number | undefined {
    return this.tokenToIdMap.get(token);
  }

  /** Id of the single-character piece `cp`, or -1. */
  charId(cp: number): number {
    return cp <= 0xffff ? (this.bmpIds[cp] as number) : (this.astralIds.get(cp) ?? -1);
  }

  /** Appends the ids of `word` (already normalized and pre-tokenized) to `out`. */
  encodeWord(word: string, out: number[]): void {
    if (this.ignoreMerges) {
      const whole = this.tokenToIdMap.get(word);
      if (whole !== undefined) {
        out.push(whole);
        return;
      }
    }
    const n = this.fillSymbols(word);
    const merged = this.merger.merge(this.symbols, n);
    this.emit(this.symbols, merged, out);
    // Do not keep a megabyte-sized scratch buffer alive after one huge word.
    if (this.symbols.length > SCRATCH_KEEP) this.symbols = new Int32Array(256);
  }

  // Writes the starting symbols of `word` into the scratch buffer: one per code point, unknown
  // characters as the placeholder -(codePoint + 1) (or as byte tokens, see expandBytesEarly).
  private fillSymbols(word: string): number {
    // A code point yields at most 4 byte symbols when expanded early; size for the worst case.
    const need = this.expandBytesEarly ? word.length * 2 : word.length;
    if (this.symbols.length < need) this.symbols = new Int32Array(Math.max(need, this.symbols.length * 2));
    const sym = this.symbols;
    let n = 0;
    for (let i = 0; i < word.length; i++) {
      let cp = word.charCodeAt(i);
      if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < word.length) {
        const lo = word.charCodeAt(i + 1);
        if (lo >= 0xdc00 && lo <= 0xdfff) {
          cp = ((cp - 0xd800) << 10) + (lo - 0xdc00) + 0x10000;
          i++;
        }
      }
      const id = cp <= 0xffff ? (this.bmpIds[cp] as number) : (this.astralIds.get(cp) ?? -1);
      if (id >= 0) sym[n++] = id;
      else if (this.expandBytesEarly) {
        pushUtf8(cp, (b) => {
          sym[n++] = this.byteIds[b] as number;
        });
      } else sym[n++] = -(cp + 1);
    }
    return n;
  }

  /**
   * Appends the ids of a byte-level word: its UTF-8 bytes, each spelled by `byteSymbols[byte]` (the
   * id of the byte's GPT-2 alphabet character), merged. Equivalent to encodeWord on the
   * alphabet-mapped string, without building that string.
   */
  encodeByteLevelWord(word: string, byteSymbols: Int32Array, out: number[]): void {
    if (this.symbols.length < word.length * 3) this.symbols = new Int32Array(Math.max(word.length * 3, this.symbols.length * 2));
    const sym = this.symbols;
    let n = 0;
    for (let i = 0; i < word.length; i++) {
      let cp = word.charCodeAt(i);
      if (cp < 0x80) {
        sym[n++] = byteSymbols[cp] as number;
        continue;
      }
      if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < word.length) {
        const lo = word.charCodeAt(i + 1);
        if (lo >= 0xdc00 && lo <= 0xdfff) {
          cp = ((cp - 0xd800) << 10) + (lo - 0xdc00) + 0x10000;
          i++;
        }
      }
      pushUtf8(cp, (b) => {
        sym[n++] = byteSymbols[b] as number;
      });
    }
    const merged = this.merger.merge(sym, n);
    this.emit(sym, merged, out);
    if (this.symbols.length > SCRATCH_KEEP) this.symbols = new Int32Array(256);
  }

  private emit(sym: Int32Array, n: number, out: number[]): void {
    let lastWasUnk = false;
    for (let i = 0; i < n; i++) {
      const s = sym[i] as number;
      if (s >= 0) {
        lastWasUnk = false;
        if (this.unusedSplits !== undefined && this.unusedSplits.has(s)) this.emitResegmented(s, out);
        else out.push(s);
        continue;
      }
      const cp = -s - 1;
      if (this.byteFallback && this.hasAllBytes) {
        pushUtf8(cp, (b) => out.push(this.byteIds[b] as number));
        lastWasUnk = false;
      } else if (this.unkId !== null) {
        if (!(this.fuseUnk && lastWasUnk)) out.push(this.unkId);
        lastWasUnk = true;
      } else {
        // No unk token and no byte fallback: like HF's BPE without unk, the character is dropped.
        lastWasUnk = false;
      }
    }
  }

  private emitResegmented(id: number, out: number[]): void {
    const split = this.unusedSplits?.get(id);
    if (split === undefined) {
      out.push(id);
      return;
    }
    this.emitResegmented(split[0], out);
    this.emitResegmented(split[1], out);
  }
}
