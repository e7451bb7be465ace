import { TokenizerFormatError } from "../errors.js";
import type { Tokenizer } from "../tokenizer.js";
import { loadTokenizer } from "./fromPretrained.js";
import { nodeFs } from "./nodeModules.js";

export interface TokenizeJsonlOptions {
  /** A tokenizer, or a path to load one from (tokenizer.json, tokenizer.model or a model directory). */
  tokenizer: Tokenizer | string;
  /** Input JSONL path; each non-blank line is an object with a string `text` field. "-": stdin. */
  input: string;
  /** Output JSONL path; one `{"ids": [...]}` line per input record, in input order. "-": stdout. */
  output: string;
  /** Add BOS/EOS as the tokenizer's template says (default true). false: sentencepiece's plain encode. */
  addSpecialTokens?: boolean;
  /** Recognize special tokens written out in the text (default false). */
  parseSpecialTokens?: boolean;
  /** Name of the text field (default "text"). */
  textField?: string;
}

export interface TokenizeJsonlResult {
  records: number;
  tokens: number;
}

// Output is buffered into chunks of about this many characters before each write.
const FLUSH_AT = 1 << 20;

/**
 * Tokenizes a JSONL file line by line: reads `{"text": ...}` records and writes `{"ids": [...]}`
 * records in the same order. Streams both files, so memory stays flat on large inputs. A malformed
 * line stops the run with an error naming the file and line; a file output is written to a
 * temporary name and renamed at the end, so a failed run leaves no partial output behind.
 */
export async function tokenizeJsonl(options: TokenizeJsonlOptions): Promise<TokenizeJsonlResult> {
  const tokenizer = typeof options.tokenizer === "string" ? await loadTokenizer(options.tokenizer) : options.tokenizer;
  const field = options.textField ?? "text";
  const encodeOptions = { addSpecialTokens: options.addSpecialTokens ?? true, parseSpecialTokens: options.parseSpecialTokens ?? false };
  const { createReadStream, createWriteStream } = await import("node:fs");
  const { createInterface } = await import("node:readline");
  const { EventEmitter } = await import("node:events");
  const once = EventEmitter.once;
  const fs = await nodeFs();

  if (options.input !== "-") {
    const info = await fs.stat(options.input).catch(() => undefined);
    if (!info?.isFile()) throw new TokenizerFormatError(`${options.input}: ${info ? "not a file" : "no such file"} (the JSONL input)`);
  }
  const toStdout = options.output === "-";
  const tmpPath = `${options.output}.${process.pid}.partial`;
  const out = toStdout ? process.stdout : createWriteStream(tmpPath, { encoding: "utf8" });
  const inputName = options.input === "-" ? "<stdin>" : options.input;
  const source = options.input === "-" ? process.stdin : createReadStream(options.input, { encoding: "utf8" });
  const lines = createInterface({ input: source, crlfDelay: Infinity });

  let buffer = "";
  const flush = async (): Promise<void> => {
    if (buffer.length === 0) return;
    const chunk = buffer;
    buffer = "";
    if (!out.write(chunk)) await once(out, "drain");
  };

  let lineNo = 0;
  let records = 0;
  let tokens = 0;
  try {
    for await (let line of lines) {
      lineNo++;
      // A UTF-8 byte order mark (what some editors write first) is not part of the first record.
      if (lineNo === 1 && line.charCodeAt(0) === 0xfeff) line = line.slice(1);
      if (line.trim().length === 0) continue;
      let record: unknown;
      try {
        record = JSON.parse(line);
      } catch (cause) {
        throw new TokenizerFormatError(`${inputName}:${lineNo}: not valid JSON (${(cause as Error).message})`, { cause });
      }
      const text = typeof record === "object" && record !== null ? (record as Record<string, unknown>)[field] : undefined;
      if (typeof text !== "string") {
        throw new TokenizerFormatError(`${inputName}:${lineNo}: expected an object with a string ${JSON.stringify(field)} field`);
      }
      const ids = tokenizer.encode(text, encodeOptions);
      buffer += `{"ids":[${ids.join(",")}]}\n`;
      records++;
      tokens += ids.length;
      if (buffer.length >= FLUSH_AT) await flush();
    }
    await flush();
    if (!toStdout) {
      out.end();
      await once(out, "finish");
      await fs.rename(tmpPath, options.output);
    }
  } catch (error) {
    lines.close();
    if (!toStdout) {
      out.destroy();
      await fs.rm(tmpPath, { force: true });
    }
    throw error;
  }
  return { records, tokens };
}
