// @densessm/mamba: Mamba (state-spaces/mamba's `Mamba` block and `MambaLMHeadModel`) and DenseMamba
// (Mamba with DenseSSM's dense hidden connections), in full-sequence, chunkwise and recurrent form.
// Importing the package registers the "mamba" model family, so `CausalLM.fromPretrained` finds it.
import { registerModelFamily } from "@densessm/core";
import { mambaFamily } from "./family.js";

export { MambaConfig, DENSE_DEFAULTS, type DenseOptions, type DenseFuseTarget, type DenseGateGranularity, type DenseGateInit, type DenseProjection, type MambaConfigOptions } from "./config.js";
export { MambaMixer, type LayerState, type MixerHooks, type MixerOutput } from "./mixer.js";
export { DepthwiseConv1d } from "./conv.js";
export { selectiveScan, type SelectiveScanInputs } from "./selective-scan.js";
export { selectiveScanConformance } from "./selective-scan-conformance.js";
export { DenseTransition, denseHooks } from "./dense.js";
export { DenseMambaMixer, MambaBackbone, MambaBlock, MambaLMHeadModel, type ChunkOutput } from "./model.js";
export { detectLayout, toStateSpacesLayout, type CheckpointLayout } from "./checkpoint.js";
export { MambaModel, convState, ssmState } from "./mamba-model.js";
export { mambaFamily } from "./family.js";
export { MAMBA_PRESETS } from "./presets.js";

registerModelFamily(mambaFamily);
