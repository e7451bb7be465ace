import { specialTokensMapFor, tokenizerConfigFor } from "../hf/tokenizerConfig.js";
import type { Tokenizer } from "../tokenizer.js";
import { nodeFs, nodePath } from "./nodeModules.js";

/**
 * Writes `tokenizer` to `dir` (created if needed) as tokenizer.json, tokenizer_config.json and
 * special_tokens_map.json: the layout fromPretrained, transformers and transformers.js load.
 * Returns the paths written.
 */
export async function saveTokenizer(tokenizer: Tokenizer, dir: string): Promise<string[]> {
  const fs = await nodeFs();
  const path = await nodePath();
  await fs.mkdir(dir, { recursive: true });
  const files: Array<[string, unknown]> = [
    ["tokenizer.json", tokenizer.toJSON()],
    ["tokenizer_config.json", tokenizerConfigFor(tokenizer)],
    ["special_tokens_map.json", specialTokensMapFor(tokenizer)],
  ];
  const written: string[] = [];
  for (const [name, value] of files) {
    const file = path.join(dir, name);
    await fs.writeFile(file, JSON.stringify(value, null, 2) + "\n");
    written.push(file);
  }
  return written;
}
