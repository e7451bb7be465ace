import { TokenizerFormatError } from "../errors.js";
import type { PostProcessorJson, TemplatePieceJson } from "../hf/tokenizerJson.js";

/** What "add special tokens" means for a single sequence: ids before and after it. */
export interface SpecialTokenTemplate {
  prefix: number[];
  suffix: number[];
}

interface TemplateProcessingJson {
  single?: TemplatePieceJson[];
  special_tokens?: Record<string, { ids?: number[] }>;
}

function fromTemplate(json: TemplateProcessingJson, where: string): SpecialTokenTemplate {
  const single = json.single;
  if (!Array.isArray(single)) throw new TokenizerFormatError(`${where}.single: expected an array`);
  const result: SpecialTokenTemplate = { prefix: [], suffix: [] };
  let seenSequence = false;
  single.forEach((piece: TemplatePieceJson, i) => {
    if ("Sequence" in piece) {
      seenSequence = true;
      return;
    }
    if (!("SpecialToken" in piece)) throw new TokenizerFormatError(`${where}.single[${i}]: expected SpecialToken or Sequence`);
    const name = piece.SpecialToken.id;
    const ids = json.special_tokens?.[name]?.ids;
    if (!Array.isArray(ids)) {
      throw new TokenizerFormatError(`${where}.special_tokens: ${JSON.stringify(name)} is used in the template but not defined`);
    }
    (seenSequence ? result.suffix : result.prefix).push(...ids);
  });
  return result;
}

/** Compiles a tokenizer.json `post_processor` into the ids it adds around a single sequence. */
export function compilePostProcessor(json: PostProcessorJson | null | undefined, where = "post_processor"): SpecialTokenTemplate {
  if (json === null || json === undefined) return { prefix: [], suffix: [] };
  switch (json.type) {
    case "TemplateProcessing":
      return fromTemplate(json as TemplateProcessingJson, where);
    case "ByteLevel":
      // Only adjusts offsets, which we do not produce.
      return { prefix: [], suffix: [] };
    case "BertProcessing":
    case "RobertaProcessing": {
      const { cls, sep } = json as { cls?: [string, number]; sep?: [string, number] };
      if (!Array.isArray(cls) || !Array.isArray(sep)) throw new TokenizerFormatError(`${where}: ${json.type} needs "cls" and "sep" pairs`);
      return { prefix: [cls[1]], suffix: [sep[1]] };
    }
    case "Sequence": {
      const list = (json as { processors?: unknown }).processors;
      if (!Array.isArray(list)) throw new TokenizerFormatError(`${where}.processors: expected an array`);
      const parts = (list as PostProcessorJson[]).map((p, i) => compilePostProcessor(p, `${where}.processors[${i}]`));
      return { prefix: parts.flatMap((p) => p.prefix), suffix: parts.flatMap((p) => p.suffix) };
    }
    default:
      throw new TokenizerFormatError(
        `${where}: post-processor type ${JSON.stringify(json.type)} is not supported (expected TemplateProcessing, ByteLevel, BertProcessing, RobertaProcessing or Sequence)`,
      );
  }
}
