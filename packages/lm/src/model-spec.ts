import { CausalLM, DenseSSMError, isPreset, presetConfig } from "@densessm/core";

/** What `train`, `compare` and `benchmark` accept as a model: a preset name, a config.json path or a config object. */
export type ModelSpec = string | Readonly<Record<string, unknown>>;

/** The config.json a spec stands for, sized to the tokenizer's vocabulary. */
export async function configFor(model: ModelSpec, vocabSize: number): Promise<Record<string, unknown>> {
  if (typeof model !== "string") return { ...model, vocab_size: vocabSize };
  if (isPreset(model)) return presetConfig(model, vocabSize);
  const { readFile } = await import("node:fs/promises");
  let json: unknown;
  try {
    json = JSON.parse(await readFile(model, "utf8"));
  } catch (e) {
    throw new DenseSSMError(`--model ${model} is neither a preset nor a readable config.json (${(e as Error).message})`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new DenseSSMError(`--model ${model}: expected a JSON object`);
  return { ...json, vocab_size: vocabSize };
}

/** A freshly initialised model for a spec (seeded, so runs are reproducible). */
export async function createModel(model: ModelSpec, vocabSize: number, seed = 0): Promise<CausalLM> {
  return CausalLM.fromConfig(await configFor(model, vocabSize), { seed });
}
