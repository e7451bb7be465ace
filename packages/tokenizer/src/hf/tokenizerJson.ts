// The parts of Hugging Face's tokenizer.json schema (tokenizers ≥ 0.13) that this package reads and
// writes. Unknown fields are preserved on load and ignored; unsupported component types are
// rejected with a TokenizerFormatError naming the field.

export interface AddedTokenJson {
  id: number;
  content: string;
  single_word?: boolean;
  lstrip?: boolean;
  rstrip?: boolean;
  normalized?: boolean;
  special?: boolean;
}

export type PatternJson = { String: string } | { Regex: string };

export type NormalizerJson =
  | { type: "Sequence"; normalizers: NormalizerJson[] }
  | { type: "Prepend"; prepend: string }
  | { type: "Replace"; pattern: PatternJson; content: string }
  | { type: "NFC" | "NFD" | "NFKC" | "NFKD" | "Lowercase" }
  | { type: "Strip"; strip_left?: boolean; strip_right?: boolean }
  | { type: string; [key: string]: unknown };

export type PreTokenizerJson =
  | { type: "Sequence"; pretokenizers: PreTokenizerJson[] }
  | { type: "ByteLevel"; add_prefix_space?: boolean; trim_offsets?: boolean; use_regex?: boolean }
  | { type: "Split"; pattern: PatternJson; behavior: string; invert?: boolean }
  | { type: "Metaspace"; replacement?: string; prepend_scheme?: "always" | "first" | "never"; add_prefix_space?: boolean; split?: boolean }
  | { type: string; [key: string]: unknown };

export type TemplatePieceJson = { SpecialToken: { id: string; type_id?: number } } | { Sequence: { id: "A" | "B"; type_id?: number } };

export type PostProcessorJson =
  | { type: "TemplateProcessing"; single: TemplatePieceJson[]; pair?: TemplatePieceJson[]; special_tokens: Record<string, { id: string; ids: number[]; tokens: string[] }> }
  | { type: "ByteLevel"; add_prefix_space?: boolean; trim_offsets?: boolean; use_regex?: boolean }
  | { type: "Sequence"; processors: PostProcessorJson[] }
  | { type: "BertProcessing" | "RobertaProcessing"; sep: [string, number]; cls: [string, number] }
  | { type: string; [key: string]: unknown };

export type DecoderJson =
  | { type: "Sequence"; decoders: DecoderJson[] }
  | { type: "Replace"; pattern: PatternJson; content: string }
  | { type: "ByteFallback" | "Fuse" }
  | { type: "Strip"; content: string; start: number; stop: number }
  | { type: "ByteLevel"; add_prefix_space?: boolean; trim_offsets?: boolean; use_regex?: boolean }
  | { type: "Metaspace"; replacement?: string; prepend_scheme?: "always" | "first" | "never"; add_prefix_space?: boolean; split?: boolean }
  | { type: string; [key: string]: unknown };

export interface BpeModelJson {
  type: "BPE";
  dropout?: number | null;
  unk_token?: string | null;
  continuing_subword_prefix?: string | null;
  end_of_word_suffix?: string | null;
  fuse_unk?: boolean;
  byte_fallback?: boolean;
  ignore_merges?: boolean;
  vocab: Record<string, number>;
  /** "left right" strings (tokenizers < 0.20) or [left, right] pairs (≥ 0.20). */
  merges: Array<string | [string, string]>;
}

export interface TokenizerJson {
  version?: string;
  truncation?: unknown;
  padding?: unknown;
  added_tokens?: AddedTokenJson[];
  normalizer?: NormalizerJson | null;
  pre_tokenizer?: PreTokenizerJson | null;
  post_processor?: PostProcessorJson | null;
  decoder?: DecoderJson | null;
  model: BpeModelJson | { type: string; [key: string]: unknown };
}

/** The subset of tokenizer_config.json / special_tokens_map.json that affects encoding. */
export interface TokenizerConfigJson {
  add_bos_token?: boolean;
  add_eos_token?: boolean;
  bos_token?: string | { content: string } | null;
  eos_token?: string | { content: string } | null;
  unk_token?: string | { content: string } | null;
  pad_token?: string | { content: string } | null;
  added_tokens_decoder?: Record<string, AddedTokenJson | Omit<AddedTokenJson, "id">>;
  [key: string]: unknown;
}
