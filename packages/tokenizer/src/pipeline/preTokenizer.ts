import { TokenizerFormatError } from "../errors.js";
import type { PatternJson, PreTokenizerJson } from "../hf/tokenizerJson.js";
import { GPT2_PATTERN, compileOnigurumaPattern, literalPattern } from "./regex.js";
import { METASPACE } from "./normalizer.js";

/** How a split pattern's matches relate to the text between them (HF's SplitDelimiterBehavior). */
export type SplitBehavior = "isolated" | "removed" | "mergedWithPrevious" | "mergedWithNext" | "matchesOnly";

export interface RegexSplit {
  re: RegExp;
  behavior: SplitBehavior;
  /** The same pattern with the sticky flag, for the allocation-free fast path of applySplit. */
  sticky?: RegExp;
}

export type PrependScheme = "always" | "first" | "never";

/** A tokenizer.json `pre_tokenizer` reduced to what the encoder executes. */
export interface CompiledPreTokenizer {
  /** Regex splits applied in order; each word of one split is split again by the next. */
  splits: RegexSplit[];
  /** Map each word's UTF-8 bytes to GPT-2's byte alphabet before the model sees it. */
  byteLevel: boolean;
  /** ByteLevel's add_prefix_space: prepend " " unless the text already starts with one. */
  addPrefixSpace: boolean;
  /** Metaspace pre-tokenizer: spaces → ▁, ▁ prepended per `prepend`, split before each ▁ if `split`. */
  metaspace: { prepend: PrependScheme; split: boolean } | null;
}

const BEHAVIORS: Record<string, SplitBehavior> = {
  Isolated: "isolated",
  Removed: "removed",
  MergedWithPrevious: "mergedWithPrevious",
  MergedWithNext: "mergedWithNext",
};

function compilePattern(pattern: PatternJson | undefined, where: string): RegExp {
  if (pattern !== undefined && "String" in pattern) return literalPattern(pattern.String);
  if (pattern !== undefined && "Regex" in pattern) return compileOnigurumaPattern(pattern.Regex, where);
  throw new TokenizerFormatError(`${where}: pattern must be {"String": ...} or {"Regex": ...}`);
}

function flatten(json: PreTokenizerJson, where: string): Array<{ step: PreTokenizerJson; where: string }> {
  if (json.type === "Sequence") {
    const list = (json as { pretokenizers?: unknown }).pretokenizers;
    if (!Array.isArray(list)) throw new TokenizerFormatError(`${where}.pretokenizers: expected an array`);
    return (list as PreTokenizerJson[]).flatMap((p, i) => flatten(p, `${where}.pretokenizers[${i}]`));
  }
  return [{ step: json, where }];
}

/** Reads the Metaspace prepend setting from either its new (prepend_scheme) or old (add_prefix_space) spelling. */
export function metaspacePrependScheme(json: { prepend_scheme?: unknown; add_prefix_space?: unknown }, where: string): PrependScheme {
  const scheme = json.prepend_scheme;
  if (scheme === "always" || scheme === "first" || scheme === "never") return scheme;
  if (scheme !== undefined) throw new TokenizerFormatError(`${where}.prepend_scheme: expected "always", "first" or "never", got ${JSON.stringify(scheme)}`);
  return json.add_prefix_space === false ? "never" : "always";
}

/** Compiles a tokenizer.json `pre_tokenizer` (null allowed). */
export function compilePreTokenizer(json: PreTokenizerJson | null | undefined, where = "pre_tokenizer"): CompiledPreTokenizer {
  const result: CompiledPreTokenizer = { splits: [], byteLevel: false, addPrefixSpace: false, metaspace: null };
  if (json === null || json === undefined) return result;
  for (const { step, where: w } of flatten(json, where)) {
    if (result.byteLevel || result.metaspace !== null) {
      throw new TokenizerFormatError(`${w}: a ${JSON.stringify(step.type)} pre-tokenizer after ByteLevel or Metaspace is not supported`);
    }
    const s = step as Record<string, unknown>;
    switch (step.type) {
      case "ByteLevel":
        result.byteLevel = true;
        result.addPrefixSpace = s["add_prefix_space"] === true;
        if (s["use_regex"] !== false) result.splits.push({ re: compileOnigurumaPattern(GPT2_PATTERN, w), behavior: "isolated" });
        break;
      case "Split": {
        if (s["invert"] === true) throw new TokenizerFormatError(`${w}.invert: inverted Split patterns are not supported`);
        const behavior = BEHAVIORS[String(s["behavior"])];
        if (behavior === undefined) {
          throw new TokenizerFormatError(`${w}.behavior: ${JSON.stringify(s["behavior"])} is not supported (expected Isolated, Removed, MergedWithPrevious or MergedWithNext)`);
        }
        result.splits.push({ re: compilePattern(s["pattern"] as PatternJson | undefined, `${w}.pattern`), behavior });
        break;
      }
      case "Whitespace":
        result.splits.push({ re: compileOnigurumaPattern("\\w+|[^\\w\\s]+", w), behavior: "matchesOnly" });
        break;
      case "WhitespaceSplit":
        result.splits.push({ re: compileOnigurumaPattern("\\S+", w), behavior: "matchesOnly" });
        break;
      case "Digits":
        result.splits.push({ re: compileOnigurumaPattern(s["individual_digits"] === true ? "\\p{N}" : "\\p{N}+", w), behavior: "isolated" });
        break;
      case "Metaspace": {
        const replacement = s["replacement"] ?? METASPACE;
        if (replacement !== METASPACE) throw new TokenizerFormatError(`${w}.replacement: only "${METASPACE}" is supported, got ${JSON.stringify(replacement)}`);
        if (result.splits.length > 0) throw new TokenizerFormatError(`${w}: Metaspace after a regex split is not supported`);
        result.metaspace = { prepend: metaspacePrependScheme(s, w), split: s["split"] !== false };
        break;
      }
      default:
        throw new TokenizerFormatError(
          `${w}: pre-tokenizer type ${JSON.stringify(step.type)} is not supported (expected ByteLevel, Split, Metaspace, Whitespace, WhitespaceSplit, Digits or Sequence)`,
        );
    }
  }
  return result;
}

/** Calls `emit` with each piece of `text` split by `split` (empty pieces are skipped). */
export function applySplit(text: string, split: RegexSplit, emit: (piece: string) => void): void {
  if (split.behavior === "isolated") {
    applyIsolated(text, split, emit);
    return;
  }
  applyGeneral(text, split, emit);
}

// Isolated splitting with a sticky regex and `test`, which unlike `exec` allocates no match array.
// Patterns like GPT-2's match at every position, so the sticky test almost never fails; when it
// does, the global regex finds the next match and the text in between is a piece of its own.
function applyIsolated(text: string, split: RegexSplit, emit: (piece: string) => void): void {
  const sticky = (split.sticky ??= new RegExp(split.re.source, split.re.flags.replace("g", "") + "y"));
  const global = split.re;
  let pos = 0;
  while (pos < text.length) {
    sticky.lastIndex = pos;
    if (sticky.test(text) && sticky.lastIndex > pos) {
      emit(text.slice(pos, sticky.lastIndex));
      pos = sticky.lastIndex;
      continue;
    }
    global.lastIndex = pos + 1;
    let next = text.length;
    for (let m = global.exec(text); m !== null; m = global.exec(text)) {
      if (m[0].length > 0) {
        next = m.index;
        break;
      }
      global.lastIndex++;
    }
    emit(text.slice(pos, next));
    pos = next;
  }
}

function applyGeneral(text: string, split: RegexSplit, emit: (piece: string) => void): void {
  const re = split.re;
  re.lastIndex = 0;
  let last = 0;
  let pending = ""; // for mergedWithNext: a delimiter waiting for the text after it
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const start = m.index;
    const end = start + m[0].length;
    if (end === start) {
      re.lastIndex++; // an empty match would loop forever; it delimits nothing
      continue;
    }
    const gap = text.slice(last, start);
    switch (split.behavior) {
      case "isolated":
        if (gap.length > 0) emit(gap);
        emit(m[0]);
        break;
      case "removed":
        if (gap.length > 0) emit(gap);
        break;
      case "matchesOnly":
        emit(m[0]);
        break;
      case "mergedWithPrevious":
        emit(gap + m[0]);
        break;
      case "mergedWithNext":
        if (pending.length + gap.length > 0) emit(pending + gap);
        pending = m[0];
        break;
    }
    last = end;
  }
  const tail = text.slice(last);
  if (split.behavior === "mergedWithNext") {
    if (pending.length + tail.length > 0) emit(pending + tail);
  } else if (split.behavior !== "matchesOnly" && tail.length > 0) emit(tail);
}
