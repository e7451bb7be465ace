import type { PostProcessorJson } from "./tokenizerJson.js";

/**
 * The post-processor of a LLaMA-style tokenizer.json: prepend the BOS token (piece `bos`, id `id`)
 * to every sequence, or none when the vocabulary has no BOS.
 */
export function bosPostProcessor(bos: string | undefined, id: number): PostProcessorJson | null {
  if (bos === undefined) return null;
  return {
    type: "TemplateProcessing",
    single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
    pair: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }, { Sequence: { id: "B", type_id: 0 } }],
    special_tokens: { [bos]: { id: bos, ids: [id], tokens: [bos] } },
  };
}
