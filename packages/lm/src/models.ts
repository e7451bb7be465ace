import { DenseSSMError, FormatError, Rng, type CausalLM } from "@densessm/core";
import { MambaConfig, MambaForCausalLM, loadCausalLM as loadMamba } from "@densessm/mamba";
import { DenseGauRetNet, DenseGauRetNetConfig, RetNet, RetNetConfig, detectArchitecture, loadCausalLM as loadRetention } from "@densessm/retnet";

type Family = "retention" | "mamba";

/** Which package a config.json belongs to. */
export function familyOf(config: Record<string, unknown>): Family {
  if ("d_model" in config || "ssm_cfg" in config || "state_size" in config || String(config.model_type ?? "").toLowerCase().includes("mamba")) return "mamba";
  try {
    detectArchitecture(config);
    return "retention";
  } catch {
    throw new FormatError(`config.json: not a model DenseSSM.js knows (model_type ${JSON.stringify(config.model_type)}); expected DenseGAU-RetNet, RetNet, Mamba or DenseMamba`);
  }
}

/** Loads a checkpoint folder (config.json + safetensors) of any supported family. */
export async function loadModel(dir: string): Promise<CausalLM> {
  const { readFile } = await import("node:fs/promises");
  const { join } = await import("node:path");
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(await readFile(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
  } catch (e) {
    throw new FormatError(`${dir}: cannot read config.json (${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message})`);
  }
  return familyOf(config) === "mamba" ? loadMamba(dir) : loadRetention(dir);
}

/** A freshly initialised model from a config.json object (seeded, so runs are reproducible). */
export function createModel(config: Record<string, unknown>, seed = 0): CausalLM {
  const rng = new Rng(seed);
  if (familyOf(config) === "mamba") return new MambaForCausalLM(MambaConfig.fromJSON(config), rng);
  if (detectArchitecture(config) === "dense-gau-retnet") return new DenseGauRetNet(DenseGauRetNetConfig.fromJSON(config), { rng });
  return new RetNet(RetNetConfig.fromJSON(config), { rng });
}

export function assertVocabularyFits(lm: CausalLM, tokenizerSize: number, where: string): void {
  if (tokenizerSize > lm.vocabSize) {
    throw new DenseSSMError(`${where}: the tokenizer has ${tokenizerSize} tokens but the model's vocabulary is ${lm.vocabSize}; they do not belong together`);
  }
}
