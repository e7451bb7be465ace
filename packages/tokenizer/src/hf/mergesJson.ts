/**
 * Spells merges for tokenizer.json. The "left right" string form is what every tokenizers release
 * and transformers.js read; the [left, right] pair form (tokenizers ≥ 0.20) is only needed when a
 * token contains a space, which ▁- and byte-level vocabularies never do.
 */
export function mergesToJson(pairs: ReadonlyArray<readonly [string, string]>): Array<string | [string, string]> {
  const needsPairs = pairs.some(([l, r]) => l.includes(" ") || r.includes(" "));
  return pairs.map(([l, r]) => (needsPairs ? [l, r] : `${l} ${r}`));
}
