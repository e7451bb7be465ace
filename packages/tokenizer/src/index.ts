// Public entry point of @densessm/tokenizer. Everything above `node/` is browser-safe; the node/
// helpers load Node built-ins lazily, only when called.

export { Tokenizer } from "./tokenizer.js";
export type { DecodeOptions, EncodeOptions, SpecialTokenNames, TokenizerDefinition } from "./tokenizer.js";
export { DecodeStream } from "./decodeStream.js";
export { TokenizerFormatError } from "./errors.js";

export { trainTokenizer } from "./trainer/trainTokenizer.js";
export type { TrainTokenizerOptions } from "./trainer/trainTokenizer.js";

export { parseTokenizerJson } from "./hf/fromTokenizerJson.js";
export { tokenizerConfigFor, specialTokensMapFor } from "./hf/tokenizerConfig.js";
export type { AddedTokenJson, TokenizerConfigJson, TokenizerJson } from "./hf/tokenizerJson.js";
export { parseSentencePieceModel } from "./sentencepiece/modelProto.js";
export type { SentencePieceModel, SentencePiecePiece } from "./sentencepiece/modelProto.js";

export { tokenizerFromFiles, type FromPretrainedOptions, type TokenizerFiles } from "./hf/fromFiles.js";
export { fromPretrained, loadTokenizer } from "./node/fromPretrained.js";
export { saveTokenizer } from "./node/saveTokenizer.js";
export { tokenizeJsonl } from "./node/tokenizeJsonl.js";
export type { TokenizeJsonlOptions, TokenizeJsonlResult } from "./node/tokenizeJsonl.js";
export { trainAndSaveTokenizer, trainTokenizerFromFile } from "./node/trainFromFile.js";
export type { TrainAndSaveOptions } from "./node/trainFromFile.js";
