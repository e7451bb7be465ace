import protobuf from "protobufjs";

import { TokenizerFormatError } from "../errors.js";

// The subset of sentencepiece's `sentencepiece_model.proto` (proto2) that encoding needs. Field
// numbers and defaults follow the upstream schema; fields we do not read are simply skipped by the
// decoder, so models written by newer sentencepiece versions still load.
const MODEL_PROTO_SCHEMA = `
syntax = "proto2";
package sentencepiece;

message TrainerSpec {
  enum ModelType { UNIGRAM = 1; BPE = 2; WORD = 3; CHAR = 4; }
  optional ModelType model_type = 3 [default = UNIGRAM];
  optional int32 vocab_size = 4 [default = 8000];
  optional bool treat_whitespace_as_suffix = 24 [default = false];
  optional bool byte_fallback = 35 [default = false];
  optional int32 unk_id = 40 [default = 0];
  optional int32 bos_id = 41 [default = 1];
  optional int32 eos_id = 42 [default = 2];
  optional int32 pad_id = 43 [default = -1];
  optional string unk_piece = 45 [default = "<unk>"];
  optional string bos_piece = 46 [default = "<s>"];
  optional string eos_piece = 47 [default = "</s>"];
  optional string pad_piece = 48 [default = "<pad>"];
}

message NormalizerSpec {
  optional string name = 1;
  optional bytes precompiled_charsmap = 2;
  optional bool add_dummy_prefix = 3 [default = true];
  optional bool remove_extra_whitespaces = 4 [default = true];
  optional bool escape_whitespaces = 5 [default = true];
}

message ModelProto {
  message SentencePiece {
    enum Type { NORMAL = 1; UNKNOWN = 2; CONTROL = 3; USER_DEFINED = 4; UNUSED = 5; BYTE = 6; }
    optional string piece = 1;
    optional float score = 2;
    optional Type type = 3 [default = NORMAL];
  }
  repeated SentencePiece pieces = 1;
  optional TrainerSpec trainer_spec = 2;
  optional NormalizerSpec normalizer_spec = 3;
  optional NormalizerSpec denormalizer_spec = 5;
}
`;

/** Piece types of sentencepiece's `ModelProto.SentencePiece.Type`. */
export const PieceType = {
  normal: 1,
  unknown: 2,
  control: 3,
  userDefined: 4,
  unused: 5,
  byte: 6,
} as const;
export type PieceType = (typeof PieceType)[keyof typeof PieceType];

export const ModelType = { unigram: 1, bpe: 2, word: 3, char: 4 } as const;

export interface SentencePiecePiece {
  piece: string;
  score: number;
  type: PieceType;
}

/** The decoded fields of a sentencepiece `tokenizer.model` that this package uses. */
export interface SentencePieceModel {
  pieces: SentencePiecePiece[];
  modelType: number;
  byteFallback: boolean;
  treatWhitespaceAsSuffix: boolean;
  unkId: number;
  bosId: number;
  eosId: number;
  padId: number;
  normalizerName: string;
  hasPrecompiledCharsmap: boolean;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  escapeWhitespaces: boolean;
}

let modelProtoType: protobuf.Type | undefined;

// Parsed lazily so that importing the package costs nothing for byte-level users.
function getModelProtoType(): protobuf.Type {
  modelProtoType ??= protobuf.parse(MODEL_PROTO_SCHEMA, { keepCase: true }).root.lookupType("sentencepiece.ModelProto");
  return modelProtoType;
}

interface DecodedPiece {
  piece?: string;
  score?: number;
  type?: number;
}

/**
 * Decodes the bytes of a sentencepiece `tokenizer.model` (a serialized `ModelProto`).
 * `source` names the file in error messages.
 */
export function parseSentencePieceModel(bytes: Uint8Array, source = "tokenizer.model"): SentencePieceModel {
  const type = getModelProtoType();
  let message: protobuf.Message;
  try {
    message = type.decode(bytes);
  } catch (cause) {
    throw new TokenizerFormatError(`${source}: not a sentencepiece ModelProto (${(cause as Error).message})`, { cause });
  }
  // `toObject` with `defaults` materializes proto2 defaults for absent optional fields.
  const obj = type.toObject(message, { defaults: true, longs: Number, bytes: Array }) as {
    pieces?: DecodedPiece[];
    trainer_spec?: Record<string, unknown>;
    normalizer_spec?: Record<string, unknown>;
  };
  const rawPieces = obj.pieces ?? [];
  if (rawPieces.length === 0) throw new TokenizerFormatError(`${source}: the model has no pieces`);
  const pieces = rawPieces.map((p, i): SentencePiecePiece => {
    if (typeof p.piece !== "string" || p.piece.length === 0) {
      throw new TokenizerFormatError(`${source}: piece ${i} has an empty string`);
    }
    const t = p.type ?? PieceType.normal;
    if (t < 1 || t > 6) throw new TokenizerFormatError(`${source}: piece ${i} (${JSON.stringify(p.piece)}) has unknown type ${t}`);
    return { piece: p.piece, score: p.score ?? 0, type: t as PieceType };
  });
  const trainer = message.$type.fields.trainer_spec && obj.trainer_spec ? obj.trainer_spec : {};
  const normalizer = obj.normalizer_spec ?? {};
  const num = (v: unknown, d: number): number => (typeof v === "number" ? v : d);
  const bool = (v: unknown, d: boolean): boolean => (typeof v === "boolean" ? v : d);
  const charsmap = normalizer["precompiled_charsmap"];
  return {
    pieces,
    modelType: num(trainer["model_type"], ModelType.unigram),
    byteFallback: bool(trainer["byte_fallback"], false),
    treatWhitespaceAsSuffix: bool(trainer["treat_whitespace_as_suffix"], false),
    unkId: num(trainer["unk_id"], 0),
    bosId: num(trainer["bos_id"], 1),
    eosId: num(trainer["eos_id"], 2),
    padId: num(trainer["pad_id"], -1),
    normalizerName: typeof normalizer["name"] === "string" ? normalizer["name"] : "",
    hasPrecompiledCharsmap: Array.isArray(charsmap) && charsmap.length > 0,
    addDummyPrefix: bool(normalizer["add_dummy_prefix"], true),
    removeExtraWhitespaces: bool(normalizer["remove_extra_whitespaces"], true),
    escapeWhitespaces: bool(normalizer["escape_whitespaces"], true),
  };
}
