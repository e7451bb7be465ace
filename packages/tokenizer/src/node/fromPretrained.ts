import { TokenizerFormatError } from "../errors.js";
import { tokenizerFromFiles, type FromPretrainedOptions, type TokenizerFiles } from "../hf/fromFiles.js";
import { parseTokenizerJson } from "../hf/fromTokenizerJson.js";
import { Tokenizer } from "../tokenizer.js";
import { nodeFs, nodePath, readIfExists } from "./nodeModules.js";

/** A model folder on disk as tokenizer files. */
function folderFiles(dir: string): TokenizerFiles {
  return {
    location: dir,
    read: async (name) => {
      const bytes = await readIfExists((await nodePath()).join(dir, name));
      return bytes && new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    },
  };
}

/** Loads a tokenizer from a model directory: see `tokenizerFromFiles`. */
export function fromPretrained(dir: string, options: FromPretrainedOptions = {}): Promise<Tokenizer> {
  return tokenizerFromFiles(folderFiles(dir), options);
}

/**
 * Loads a tokenizer from a directory (see {@link fromPretrained}) or a single file: a tokenizer.json
 * or a sentencepiece .model (told apart by content). A file named exactly tokenizer.json or
 * tokenizer.model also picks up the tokenizer_config.json next to it.
 */
export async function loadTokenizer(fileOrDir: string, options: FromPretrainedOptions = {}): Promise<Tokenizer> {
  const fs = await nodeFs();
  const path = await nodePath();
  let stat;
  try {
    stat = await fs.stat(fileOrDir);
  } catch (cause) {
    throw new TokenizerFormatError(`${fileOrDir}: no such file or directory`, { cause });
  }
  if (stat.isDirectory()) return fromPretrained(fileOrDir, options);
  const base = path.basename(fileOrDir);
  if (base === "tokenizer.json" || base === "tokenizer.model") {
    return fromPretrained(path.dirname(fileOrDir), { ...options, prefer: base });
  }
  const bytes = await fs.readFile(fileOrDir);
  const firstChar = bytes.toString("utf8", 0, Math.min(bytes.length, 64)).trimStart()[0];
  if (firstChar === "{") return Tokenizer.fromJSON(parseTokenizerJson(bytes.toString("utf8"), fileOrDir), options.config ?? {});
  return Tokenizer.fromSentencePiece(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), options.config ?? {});
}
