import { TokenizerFormatError } from "../errors.js";

// Oniguruma's \s (what the Rust `tokenizers` crate compiles pre-tokenizer patterns with) is
// Unicode White_Space. JavaScript's \s differs: it adds U+FEFF and lacks U+0085, so we spell the
// set out instead of passing \s through.
const WHITE_SPACE = "\\t-\\r \\x85\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000";

const WORD = "\\p{L}\\p{M}\\p{Nd}\\p{Pc}";

/** GPT-2's pre-tokenizer pattern, which HF's ByteLevel pre-tokenizer uses when `use_regex` is on. */
export const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

function isAsciiLetter(c: string): boolean {
  return (c >= "a" && c <= "z") || (c >= "A" && c <= "Z");
}

function bothCases(c: string): string {
  return c.toLowerCase() + c.toUpperCase();
}

/**
 * Translates a pre-tokenizer regex written for Oniguruma into an equivalent JavaScript RegExp (with
 * the `u` flag). Covers what real tokenizer.json files use: \s / \S, \p{..}, `(?i:...)` groups with
 * ASCII letters, `.`, and line anchors. Constructs whose semantics differ and that we cannot
 * translate (possessive quantifiers, atomic groups, nested classes) are rejected rather than
 * silently mis-tokenized. `where` names the field in error messages.
 */
export function compileOnigurumaPattern(pattern: string, where: string, flags = "gu"): RegExp {
  let out = "";
  let inClass = false;
  // Stack of open groups; `true` marks a case-insensitive `(?i:` group.
  const groups: boolean[] = [];
  const fail = (what: string): never => {
    throw new TokenizerFormatError(`${where}: regex ${JSON.stringify(pattern)} uses ${what}, which is not supported`);
  };
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    const caseless = groups.includes(true);
    if (c === "\\") {
      const e = pattern[i + 1];
      if (e === undefined) fail("a trailing backslash");
      i++;
      if (e === "s") out += inClass ? WHITE_SPACE : `[${WHITE_SPACE}]`;
      else if (e === "S") out += inClass ? fail("\\S inside a character class") : `[^${WHITE_SPACE}]`;
      else if (e === "h") out += inClass ? "0-9a-fA-F" : "[0-9a-fA-F]";
      // Oniguruma's \w and \d are Unicode-aware; JavaScript's are ASCII-only even with the u flag.
      else if (e === "w") out += inClass ? WORD : `[${WORD}]`;
      else if (e === "W") out += inClass ? fail("\\W inside a character class") : `[^${WORD}]`;
      else if (e === "d") out += "\\p{Nd}";
      else if (e === "D") out += inClass ? fail("\\D inside a character class") : "\\P{Nd}";
      else if (e === "A") out += "^";
      else if (e === "z") out += "$";
      else if (e === "Z") out += "(?=\\n?$)";
      else if (e === "x" && pattern[i + 1] === "{") {
        const end = pattern.indexOf("}", i);
        out += `\\u{${pattern.slice(i + 2, end)}}`;
        i = end;
      } else if (e === "p" || e === "P") {
        const end = pattern.indexOf("}", i);
        if (pattern[i + 1] !== "{" || end < 0) fail(`\\${e} without braces`);
        out += pattern.slice(i - 1, end + 1);
        i = end;
      } else if (caseless && isAsciiLetter(e as string) && !"dDwWbBnrtfvkg".includes(e as string)) {
        out += inClass ? bothCases(e as string) : `[${bothCases(e as string)}]`;
      } else out += `\\${e}`;
      continue;
    }
    if (inClass) {
      if (c === "[") fail("a nested character class");
      if (c === "&" && pattern[i + 1] === "&") fail("a class intersection (&&)");
      if (c === "]") inClass = false;
      if (caseless && isAsciiLetter(c)) {
        if (pattern[i + 1] === "-") fail("a range inside a case-insensitive group");
        out += bothCases(c);
      } else out += c;
      continue;
    }
    if (c === "[") {
      inClass = true;
      out += c;
      // A `]` right after `[` or `[^` is a literal in Oniguruma; JavaScript needs it escaped.
      if (pattern[i + 1] === "^") {
        out += "^";
        i++;
      }
      if (pattern[i + 1] === "]") {
        out += "\\]";
        i++;
      }
      continue;
    }
    if (c === "(") {
      if (pattern.startsWith("(?i:", i)) {
        groups.push(true);
        out += "(?:";
        i += 3;
        continue;
      }
      if (pattern.startsWith("(?>", i)) fail("an atomic group");
      if (pattern[i + 1] === "?" && /^\(\?[imx-]+[:)]/.test(pattern.slice(i))) fail("inline option flags other than (?i:)");
      groups.push(false);
      out += c;
      continue;
    }
    if (c === ")") {
      groups.pop();
      out += c;
      continue;
    }
    if ((c === "+" || c === "*" || c === "?" || c === "}") && pattern[i + 1] === "+") fail("a possessive quantifier");
    if (c === ".") out += "[^\\n]";
    else if (c === "^") out += "(?<![^\\n])";
    else if (c === "$") out += "(?![^\\n])";
    else if (caseless && isAsciiLetter(c)) out += `[${bothCases(c)}]`;
    else out += c;
  }
  try {
    return new RegExp(out, flags);
  } catch (cause) {
    throw new TokenizerFormatError(`${where}: regex ${JSON.stringify(pattern)} does not compile in JavaScript (${(cause as Error).message})`, { cause });
  }
}

/** RegExp matching `text` literally. */
export function literalPattern(text: string, flags = "gu"): RegExp {
  return new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), flags);
}
