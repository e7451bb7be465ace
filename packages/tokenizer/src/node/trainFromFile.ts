import { TokenizerFormatError } from "../errors.js";
import type { Tokenizer } from "../tokenizer.js";
import { trainTokenizer, type TrainTokenizerOptions } from "../trainer/trainTokenizer.js";
import { readIfExists } from "./nodeModules.js";
import { saveTokenizer } from "./saveTokenizer.js";

/** Trains a tokenizer on a UTF-8 text file (read whole; lines are sentences for the sentencepiece kind). */
export async function trainTokenizerFromFile(corpusPath: string, options: TrainTokenizerOptions): Promise<Tokenizer> {
  const bytes = await readIfExists(corpusPath);
  if (bytes === undefined) throw new TokenizerFormatError(`${corpusPath}: corpus file not found`);
  return trainTokenizer(bytes.toString("utf8"), options);
}

export interface TrainAndSaveOptions extends TrainTokenizerOptions {
  corpus: string;
  out: string;
}

/** `densessm tokenizer train --corpus FILE --vocab-size N --out DIR` in one call. */
export async function trainAndSaveTokenizer(options: TrainAndSaveOptions): Promise<{ tokenizer: Tokenizer; files: string[] }> {
  const { corpus, out, ...trainOptions } = options;
  const tokenizer = await trainTokenizerFromFile(corpus, trainOptions);
  const files = await saveTokenizer(tokenizer, out);
  return { tokenizer, files };
}
