import type { Tokenizer } from "../tokenizer.js";
import type { TokenizerConfigJson } from "./tokenizerJson.js";

/**
 * The tokenizer_config.json that goes next to a saved tokenizer.json: the special token names and
 * add_bos_token / add_eos_token matching the tokenizer's template, so that loading the pair back
 * (here, in transformers or transformers.js) adds the same special tokens.
 */
export function tokenizerConfigFor(tokenizer: Tokenizer): TokenizerConfigJson {
  const { bos, eos, unk, pad } = tokenizer.specialTokens;
  const { prefix, suffix } = tokenizer.specialTokenTemplate;
  const bosId = tokenizer.bosTokenId;
  const eosId = tokenizer.eosTokenId;
  return {
    tokenizer_class: "PreTrainedTokenizerFast",
    add_bos_token: bosId !== undefined && prefix.includes(bosId),
    add_eos_token: eosId !== undefined && suffix.includes(eosId),
    clean_up_tokenization_spaces: false,
    ...(bos === undefined ? {} : { bos_token: bos }),
    ...(eos === undefined ? {} : { eos_token: eos }),
    ...(unk === undefined ? {} : { unk_token: unk }),
    ...(pad === undefined ? {} : { pad_token: pad }),
  };
}

/** special_tokens_map.json for a tokenizer (transformers reads it when tokenizer_config.json lacks names). */
export function specialTokensMapFor(tokenizer: Tokenizer): Record<string, string> {
  const { bos, eos, unk, pad } = tokenizer.specialTokens;
  return {
    ...(bos === undefined ? {} : { bos_token: bos }),
    ...(eos === undefined ? {} : { eos_token: eos }),
    ...(unk === undefined ? {} : { unk_token: unk }),
    ...(pad === undefined ? {} : { pad_token: pad }),
  };
}
