// @densessm/retnet: DenseGAU-RetNet (the DenseSSM paper's DenseRetNet, with the official numerics) and
// classic RetNet with its dense variant, in parallel, recurrent and chunkwise form. Importing the
// package registers both as model families, so `CausalLM.fromPretrained` finds them from config.json.
import { registerModelFamily } from "@densessm/core";
import { denseGauRetNetFamily, retNetFamily } from "./families.js";

export { DenseGauRetNetConfig, type DenseGauRetNetConfigJSON } from "./config.js";
export type { RetentionContext, RetentionMode } from "./context.js";
export { DenseGauRetNetForCausalLM, DenseGauRetNetLayer, DenseGauRetNetModel, MultiScaleGauRetention } from "./dense-gau-retnet.js";
export { DENSE_KV_DEFAULTS, DENSE_KV_KEYS, parseDenseKVOptions, type DenseKVOptions, type DenseProjectionKind } from "./dense-options.js";
export { denseKVModules, fuseDenseKV, multiHeadRetention, type DenseKV, type DenseKVModules, type DenseKVShape } from "./multi-head.js";
export { recurrentRetention, thetaShift } from "./retention.js";
export { chunkwiseRetention, parallelRetention, retentionStep, type ChunkwiseRetentionAttrs, type ParallelRetentionAttrs } from "./retention-ops.js";
export { retentionConformance } from "./retention-conformance.js";
export { denseGauDecays, parallelDecayMask, recurrentFactors, relPosBuffers, runningScale, thetaAngles, thetaTables } from "./positions.js";
export { RetentionModel, retentionState, type RetentionLanguageModel, type RetentionModelOptions, type RetentionShape } from "./retention-model.js";
export { denseGauRetNetFamily, retNetFamily } from "./families.js";
export { DENSE_GAU_RETNET_PRESETS, RETNET_PRESETS } from "./presets.js";
export { RetNetConfig } from "./retnet-config.js";
export { GLU, MultiScaleRetention, RetNetDecoder, RetNetDecoderLayer } from "./retnet-lm.js";

registerModelFamily(denseGauRetNetFamily);
registerModelFamily(retNetFamily);
