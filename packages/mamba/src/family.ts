import { Rng, type ModelFamily } from "@densessm/core";
import { MambaConfig } from "./config.js";
import { MambaModel } from "./mamba-model.js";
import { MambaLMHeadModel } from "./model.js";
import { MAMBA_PRESETS } from "./presets.js";

/** Mamba and DenseMamba, from a state-spaces or transformers config.json (DenseMamba: a `dense` section). */
export const mambaFamily: ModelFamily<MambaConfig> = {
  name: "mamba",
  detect: (json) => "d_model" in json || "ssm_cfg" in json || "state_size" in json || String(json.model_type ?? "").toLowerCase().includes("mamba"),
  fromConfig: (json) => MambaConfig.fromJSON(json),
  create: (config, options = {}) => new MambaModel(config, new MambaLMHeadModel(config, new Rng(options.seed ?? 0))),
  presets: MAMBA_PRESETS,
};
