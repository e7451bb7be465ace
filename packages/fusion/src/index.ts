// @densessm/fusion: the DenseSSM paper's selective transition (φ) and hidden fusion modules, and the
// ring of the last m layers' hidden states that dense connections read from. Generic over any SSM.
export { HiddenProjection } from "./projection.js";
export { SelectiveTransition, selectiveGate, transitionProjection, type ProjectionSpec, type SelectiveTransitionOptions } from "./selective-transition.js";
export { HiddenFusion, type FusionMode, type HiddenFusionOptions } from "./hidden-fusion.js";
export { denseFusion } from "./dense-fusion.js";
export { fusionConformance } from "./fusion-conformance.js";
export { DenseHiddenRing } from "./ring.js";
