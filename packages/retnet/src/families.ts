import { Rng, type ModelFamily } from "@densessm/core";
import { DenseGauRetNetConfig } from "./config.js";
import { DenseGauRetNetForCausalLM } from "./dense-gau-retnet.js";
import { denseGauDecays } from "./positions.js";
import { DENSE_GAU_RETNET_PRESETS, RETNET_PRESETS } from "./presets.js";
import { RetentionModel } from "./retention-model.js";
import { RetNetConfig } from "./retnet-config.js";
import { RetNetDecoder } from "./retnet-lm.js";

const lower = (v: unknown) => String(v ?? "").toLowerCase();
const architectures = (json: Readonly<Record<string, unknown>>) => (Array.isArray(json.architectures) ? json.architectures.map(String) : []);

/**
 * DenseGAU-RetNet, the DenseSSM paper's DenseRetNet, from the official config.json in either of its
 * forms: the GitHub one (model_type "llama" with query_key_dim / v_factor) and the released one
 * (model_type "DenseGauRetNet").
 */
export const denseGauRetNetFamily: ModelFamily<DenseGauRetNetConfig> = {
  name: "dense-gau-retnet",
  detect: (json) =>
    ["densegauretnet", "dense_gau_retnet", "dense-gau-retnet"].includes(lower(json.model_type)) ||
    "query_key_dim" in json ||
    (lower(json.model_type) === "llama" && ["v_factor", "dense_block_layers", "retnorm"].some((k) => k in json)) ||
    /dense_gau_retnet/i.test(JSON.stringify(json.auto_map ?? "")),
  fromConfig: (json) => DenseGauRetNetConfig.fromJSON(json),
  create: (config, options = {}) =>
    new RetentionModel("dense-gau-retnet", config, new DenseGauRetNetForCausalLM(config, new Rng(options.seed ?? 0)), { numLayers: config.numLayers, numHeads: config.numHeads, keyDim: config.keyDim, headDim: config.headDim, gammas: denseGauDecays(config.numHeads) }, { contextLength: config.maxPositionEmbeddings, relPos: "model.retnet_rel_pos" }),
  presets: DENSE_GAU_RETNET_PRESETS,
};

/** torchscale's RetNet (RetNetConfig keys) and its dense variant (`dense_block_layers` > 0). */
export const retNetFamily: ModelFamily<RetNetConfig> = {
  name: "retnet",
  detect: (json) => ["retnet", "denseretnet", "dense_retnet"].includes(lower(json.model_type)) || (!("query_key_dim" in json) && architectures(json).some((a) => /RetNet/i.test(a) && !/Gau/i.test(a))),
  fromConfig: (json) => RetNetConfig.fromJSON(json),
  create: (config, options = {}) =>
    new RetentionModel(config.denseBlockLayers > 0 ? "dense-retnet" : "retnet", config, new RetNetDecoder(config, new Rng(options.seed ?? 0)), { numLayers: config.numLayers, numHeads: config.numHeads, keyDim: config.keyDim, headDim: config.headDim, gammas: denseGauDecays(config.numHeads) }, { relPos: "retnet_rel_pos" }),
  presets: RETNET_PRESETS,
};
