import { readFile } from "node:fs/promises";
import { CliError } from "./errors.js";

/** Reads and parses a JSON file, naming the file in every error. */
export async function readJson(file: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    throw new CliError(`cannot read ${what} ${file}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CliError(`${what} ${file} is not valid JSON: ${(e as Error).message}`);
  }
}

/** Validates a JSON array of equal-length rows of non-negative integer token ids. */
export function parseIdRows(value: unknown, file: string, vocabSize?: number): number[][] {
  if (!Array.isArray(value) || value.length === 0 || !value.every(Array.isArray)) {
    throw new CliError(`${file}: expected a JSON array of token-id rows, e.g. [[1, 2, 3], [4, 5, 6]]`);
  }
  const rows = value as unknown[][];
  const len = rows[0]!.length;
  if (len === 0) throw new CliError(`${file}: rows must not be empty`);
  rows.forEach((row, r) => {
    if (row.length !== len) throw new CliError(`${file}: row ${r} has ${row.length} ids, row 0 has ${len}; rows must have equal length`);
    row.forEach((id, i) => {
      if (!Number.isInteger(id) || (id as number) < 0) throw new CliError(`${file}: row ${r}, position ${i}: ${JSON.stringify(id)} is not a non-negative integer id`);
      if (vocabSize !== undefined && (id as number) >= vocabSize) throw new CliError(`${file}: row ${r}, position ${i}: id ${String(id)} is outside the model's vocabulary of ${vocabSize}`);
    });
  });
  return rows as number[][];
}
