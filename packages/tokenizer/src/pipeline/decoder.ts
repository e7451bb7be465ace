import { TokenizerFormatError } from "../errors.js";
import type { DecoderJson, PatternJson } from "../hf/tokenizerJson.js";
import { METASPACE } from "./normalizer.js";
import { metaspacePrependScheme } from "./preTokenizer.js";

/**
 * A tokenizer.json `decoder` reduced to the operations our decode performs on the token stream:
 * token → bytes (byte-level alphabet, `<0xNN>` byte fallback, or UTF-8 of the token with ▁ shown as
 * a space), then UTF-8 decoding of the concatenation, then stripping leading spaces.
 */
export interface CompiledDecoder {
  byteLevel: boolean;
  byteFallback: boolean;
  /** Show ▁ as a space. */
  metaspace: boolean;
  /** How many leading spaces to remove from the decoded text (sentencepiece's dummy prefix). */
  stripLeadingSpaces: number;
  /** HF's Metaspace decoder drops every ▁ of the first token instead (not just one leading space). */
  dropMetaspaceInFirstToken: boolean;
}

function isMetaspaceReplace(d: DecoderJson): boolean {
  const { pattern, content } = d as { pattern?: PatternJson; content?: unknown };
  return content === " " && pattern !== undefined && "String" in pattern && pattern.String === METASPACE;
}

/** Compiles a tokenizer.json `decoder` (null: tokens are concatenated as they are). */
export function compileDecoder(json: DecoderJson | null | undefined, where = "decoder"): CompiledDecoder {
  const result: CompiledDecoder = { byteLevel: false, byteFallback: false, metaspace: false, stripLeadingSpaces: 0, dropMetaspaceInFirstToken: false };
  if (json === null || json === undefined) return result;
  const steps = json.type === "Sequence" ? ((json as { decoders?: DecoderJson[] }).decoders ?? []) : [json];
  steps.forEach((d, i) => {
    const w = json.type === "Sequence" ? `${where}.decoders[${i}]` : where;
    switch (d.type) {
      case "ByteLevel":
        result.byteLevel = true;
        break;
      case "ByteFallback":
        result.byteFallback = true;
        break;
      case "Fuse":
        break; // our decode always fuses
      case "Replace":
        if (!isMetaspaceReplace(d)) throw new TokenizerFormatError(`${w}: only Replace "${METASPACE}" → " " is supported`);
        result.metaspace = true;
        break;
      case "Strip": {
        const { content, start, stop } = d as { content?: unknown; start?: unknown; stop?: unknown };
        if (content !== " " || stop !== 0 || typeof start !== "number") {
          throw new TokenizerFormatError(`${w}: only Strip of leading spaces (content " ", stop 0) is supported`);
        }
        result.stripLeadingSpaces = start;
        break;
      }
      case "Metaspace": {
        const s = d as { replacement?: unknown; prepend_scheme?: unknown; add_prefix_space?: unknown };
        if ((s.replacement ?? METASPACE) !== METASPACE) throw new TokenizerFormatError(`${w}.replacement: only "${METASPACE}" is supported`);
        result.metaspace = true;
        if (metaspacePrependScheme(s, w) !== "never") result.dropMetaspaceInFirstToken = true;
        break;
      }
      default:
        throw new TokenizerFormatError(
          `${w}: decoder type ${JSON.stringify(d.type)} is not supported (expected ByteLevel, ByteFallback, Fuse, Replace, Strip, Metaspace or Sequence)`,
        );
    }
  });
  return result;
}
