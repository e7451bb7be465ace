/**
 * Thrown when a tokenizer file (tokenizer.json, tokenizer.model, tokenizer_config.json, …) or an
 * input record is malformed or uses a feature this package does not implement. The message starts
 * with the file or record it is about, then names the offending field and what was expected.
 */
export class TokenizerFormatError extends Error {
  override readonly name = "TokenizerFormatError";
}
