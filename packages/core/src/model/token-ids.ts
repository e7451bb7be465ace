import { DenseSSMError } from "../errors.js";

/** Token ids a model cannot take: empty or ragged rows, non-integers, ids outside the vocabulary. */
export class TokenIdError extends DenseSSMError {
  override name = "TokenIdError";
}

/**
 * Checks rows of token ids (equal length, integers in [0, vocabSize)) and returns [batch, length].
 * Every family's entry points go through this, so bad ids fail the same way before any graph runs.
 */
export function checkTokenIds(ids: readonly (readonly number[])[], vocabSize: number, what = "ids"): [number, number] {
  if (!Array.isArray(ids) || ids.length === 0 || !Array.isArray(ids[0])) throw new TokenIdError(`${what}: expected a non-empty array of token rows`);
  const length = ids[0].length;
  if (length === 0) throw new TokenIdError(`${what}: rows must not be empty`);
  ids.forEach((row, b) => {
    if (!Array.isArray(row) || row.length !== length) throw new TokenIdError(`${what}: row ${b} has ${Array.isArray(row) ? row.length : "no"} tokens, row 0 has ${length}; rows must have equal length`);
    row.forEach((t, i) => {
      if (!Number.isInteger(t) || t < 0 || t >= vocabSize) throw new TokenIdError(`${what}: token ${JSON.stringify(t)} at [${b}][${i}] is not in [0, ${vocabSize})`);
    });
  });
  return [ids.length, length];
}
