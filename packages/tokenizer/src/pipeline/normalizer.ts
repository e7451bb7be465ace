import { TokenizerFormatError } from "../errors.js";
import type { NormalizerJson, PatternJson } from "../hf/tokenizerJson.js";
import { compileOnigurumaPattern, literalPattern } from "./regex.js";

/** sentencepiece's whitespace symbol, U+2581 LOWER ONE EIGHTH BLOCK. */
export const METASPACE = "\u2581";

export type NormalizeFn = (text: string) => string;

/**
 * A normalizer split into a generic string → string part and the sentencepiece whitespace escape
 * ("prepend ▁ and replace spaces with ▁") that LLaMA's tokenizer.json spells as a Prepend + Replace
 * sequence. Keeping the escape separate lets the encoder treat spaces as ▁ lazily instead of
 * copying every input string.
 */
export interface CompiledNormalizer {
  normalize: NormalizeFn | null;
  /** When set, the normalizer ends with "prepend ▁ (to non-empty text), then spaces → ▁". */
  escapesSpaces: boolean;
}

function compilePattern(pattern: PatternJson, where: string): RegExp {
  if ("String" in pattern) return literalPattern(pattern.String);
  if ("Regex" in pattern) return compileOnigurumaPattern(pattern.Regex, where);
  throw new TokenizerFormatError(`${where}: pattern must be {"String": ...} or {"Regex": ...}`);
}

function flatten(json: NormalizerJson, where: string): Array<{ step: NormalizerJson; where: string }> {
  if (json.type === "Sequence") {
    const list = (json as { normalizers?: unknown }).normalizers;
    if (!Array.isArray(list)) throw new TokenizerFormatError(`${where}.normalizers: expected an array`);
    return (list as NormalizerJson[]).flatMap((n, i) => flatten(n, `${where}.normalizers[${i}]`));
  }
  return [{ step: json, where }];
}

function compileStep(step: NormalizerJson, where: string): NormalizeFn {
  switch (step.type) {
    case "NFC":
    case "NFD":
    case "NFKC":
    case "NFKD": {
      const form = step.type;
      return (s) => s.normalize(form);
    }
    case "Lowercase":
      return (s) => s.toLowerCase();
    case "Prepend": {
      const prepend = (step as { prepend?: unknown }).prepend;
      if (typeof prepend !== "string") throw new TokenizerFormatError(`${where}.prepend: expected a string`);
      return (s) => (s.length === 0 ? s : prepend + s);
    }
    case "Replace": {
      const { pattern, content } = step as { pattern?: PatternJson; content?: unknown };
      if (pattern === undefined || typeof content !== "string") {
        throw new TokenizerFormatError(`${where}: Replace needs "pattern" and a string "content"`);
      }
      const re = compilePattern(pattern, `${where}.pattern`);
      return (s) => s.replace(re, () => content);
    }
    case "Strip": {
      const { strip_left: left = true, strip_right: right = true } = step as { strip_left?: boolean; strip_right?: boolean };
      return (s) => (left && right ? s.trim() : left ? s.trimStart() : right ? s.trimEnd() : s);
    }
    default:
      throw new TokenizerFormatError(
        `${where}: normalizer type ${JSON.stringify(step.type)} is not supported (expected Sequence, Prepend, Replace, NFC, NFD, NFKC, NFKD, Lowercase or Strip)`,
      );
  }
}

function isPrependMetaspace(step: NormalizerJson): boolean {
  return step.type === "Prepend" && (step as { prepend?: unknown }).prepend === METASPACE;
}

function isReplaceSpace(step: NormalizerJson): boolean {
  if (step.type !== "Replace") return false;
  const { pattern, content } = step as { pattern?: PatternJson; content?: unknown };
  return content === METASPACE && pattern !== undefined && "String" in pattern && pattern.String === " ";
}

/** Compiles a tokenizer.json `normalizer` (null allowed). `where` names the field in errors. */
export function compileNormalizer(json: NormalizerJson | null | undefined, where = "normalizer"): CompiledNormalizer {
  if (json === null || json === undefined) return { normalize: null, escapesSpaces: false };
  const steps = flatten(json, where);
  let escapesSpaces = false;
  const n = steps.length;
  if (n >= 2) {
    const a = (steps[n - 2] as { step: NormalizerJson }).step;
    const b = (steps[n - 1] as { step: NormalizerJson }).step;
    // Prepend-then-Replace and Replace-then-Prepend give the same string since "▁" has no space.
    if ((isPrependMetaspace(a) && isReplaceSpace(b)) || (isReplaceSpace(a) && isPrependMetaspace(b))) {
      escapesSpaces = true;
      steps.length = n - 2;
    }
  }
  const fns = steps.map(({ step, where: w }) => compileStep(step, w));
  const normalize: NormalizeFn | null =
    fns.length === 0 ? null : fns.length === 1 ? (fns[0] as NormalizeFn) : (s) => fns.reduce((acc, f) => f(acc), s);
  return { normalize, escapesSpaces };
}
