// @densessm/retnet: DenseGAU-RetNet (the DenseSSM paper's DenseRetNet, with the official numerics) and
// classic RetNet with its dense variant, in parallel, recurrent and chunkwise form.
export { DenseGauRetNetConfig, type DenseGauRetNetConfigJSON } from "./config.js";
export type { RetentionContext, RetentionMode } from "./context.js";
export { DenseGauRetNetForCausalLM, DenseGauRetNetLayer, DenseGauRetNetModel, MultiScaleGauRetention } from "./dense-gau-retnet.js";
export { fuseDenseKV, multiHeadRetention, type DenseKV, type DenseKVModules } from "./multi-head.js";
export { recurrentRetention, thetaShift } from "./retention.js";
export { chunkwiseRetention, parallelRetention, type ChunkwiseRetentionAttrs, type ParallelRetentionAttrs } from "./retention-ops.js";
export { retentionConformance } from "./retention-conformance.js";
export { denseGauDecays, parallelDecayMask, recurrentFactors, runningScale, thetaAngles, thetaTables } from "./positions.js";
export { RetentionRunner, causalLmLoss, stateName, type RetentionLanguageModel, type RetentionShape } from "./runner.js";
export { loadWeights, readConfigJSON, saveCheckpoint } from "./checkpoint.js";
export { DenseGauRetNet, RetentionCausalLM, detectArchitecture, loadCausalLM } from "./causal-lm.js";
export { RetNetConfig } from "./retnet-config.js";
export { GLU, MultiScaleRetention, RetNet, RetNetDecoder, RetNetDecoderLayer } from "./retnet-lm.js";
