// Shared by the emitters.
/** `s` without one pair of parentheses around all of it (statement level needs none). */
export function bare(s: string): string {
  if (!s.startsWith("(") || !s.endsWith(")")) return s;
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === "(") depth++;
    else if (s[i] === ")" && --depth === 0 && i < s.length - 1) return s;
  }
  return s.slice(1, -1);
}
