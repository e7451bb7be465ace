// @densessm/core: tensors, the op interface, graph IR, autodiff, sessions and backends, safetensors,
// nn building blocks, optimizers and sampling. Backend-agnostic: nothing here computes on its own.

export * from "./errors.js";

export * from "./tensor/dtype.js";
export * from "./tensor/shape.js";
export { Tensor, type NestedArray } from "./tensor/tensor.js";

export type { AttrValue, Attrs, Binding, Graph, Node } from "./graph/graph.js";
export { liveNodes } from "./graph/graph.js";
export {
  GraphBuilder,
  SymTensor,
  currentBuilder,
  trace,
  toSym,
  type ExpandPolicy,
  type GraphBuilderOptions,
  type ParameterLike,
  type TensorLike,
  type TraceSpec,
} from "./graph/symbolic.js";
export { lower, prune, rebuild, replay, selectOutputs } from "./graph/transform.js";
export { deserializeGraph, printGraph, serializeGraph } from "./graph/format.js";
export { planBuffers, type BufferPlan } from "./graph/liveness.js";
export { foldTransposes, widenStorage } from "./graph/rewrites.js";

export * as ops from "./ops/api.js";
export { defineOp, getOp, listOps } from "./ops/registry.js";
export type { CompositeOpDef, GradContext, GradRule, OpDef, PrimitiveOpDef, SourceOpDef, TypeInfo } from "./ops/registry.js";
export { PRIMITIVE_NAMES, PRIMITIVE_OPS } from "./ops/primitives.js";
export { hashUniform } from "./ops/random.js";
export { normalizeAxes, sumToShape } from "./ops/helpers.js";

export { gradName, gradients, type GradientOptions } from "./autodiff/gradients.js";

export type { Backend, Capabilities, DeviceTensor, Executable, MemoryInfo } from "./backend/backend.js";
export { getBackend, listBackends, registerBackend, unregisterBackend, type BackendOptions, type BackendRegistration } from "./backend/registry.js";
export { Session, type Feed, type ParameterSource } from "./runtime/session.js";
export { Rng, defaultRng, manualSeed } from "./runtime/rng.js";

export { MAX_SAFETENSORS_HEADER, parseSafetensors, parseSafetensorsHeader, safetensorsHeader, serializeSafetensors, type SafetensorsEntry, type SafetensorsFile, type SafetensorsHeader } from "./io/safetensors.js";
export { readSafetensors, readSafetensorsFolder, writeFileAtomic, writeFileAtomicStream, writeSafetensors, writeSafetensorsFolder, writeTorchCheckpoint } from "./io/files.js";
export { pendingTensors, type PendingTensor } from "./io/tensor-stream.js";
export { writeTorchCheckpointTo, type ByteSink } from "./io/torch/write.js";
export { blobSource, describeFile, folderSource, readJsonObject, readText, urlSource, type FileProgress, type FileSource, type FileSourceOptions, type NamedBlob, type UrlSourceOptions } from "./io/file-source.js";
export { checkFinite, openCheckpoint, PYTORCH_BIN, PYTORCH_BIN_INDEX, readWeights, SAFETENSORS, SAFETENSORS_INDEX, WEIGHT_FILES, type Checkpoint, type ReadWeightsOptions, type WeightHeader } from "./io/weights.js";
export { bytesFile, openFile, type RandomAccessFile } from "./io/random-access.js";
export { DEFAULT_HUB_URL, hubSettings, hubSource, isHubName, type CacheStorageLike, type HubOptions } from "./io/hub.js";
export { ALLOWED_GLOBALS, openTorchCheckpoint, type TorchCheckpoint, type TorchTensor } from "./io/torch/checkpoint.js";

export { DEQUANTIZE, QUANTIZED_MATMUL, type QuantAttrs } from "./quant/ops.js";
export { dequantizeWeight, quantizeWeight, type QuantizedWeight } from "./quant/codec.js";
export {
  checkQuantizedShapes,
  DEFAULT_GROUP_SIZE,
  GROUP_SIZES,
  parseQuantizationConfig,
  QUANT_METHOD,
  quantizationConfigJSON,
  quantizedLayout,
  weightQuantization,
  type QuantizationConfig,
  type QuantizationSettings,
  type QuantizedLayout,
  type WeightQuantization,
} from "./quant/format.js";
export { prepareQuantized, quantizableModules, quantizeModule, type QuantizeOptions } from "./quant/modules.js";

export { Module } from "./nn/module.js";
export { Parameter } from "./nn/parameter.js";
export { init, withoutInitialization } from "./nn/init.js";
export { DROPOUT_SEED_INPUT, Dropout, Embedding, LayerNorm, Linear, RMSNorm } from "./nn/layers.js";

export { AdamW, type AdamWOptions, type AdamWState } from "./optim/adamw.js";
export { adamwUpdateGraph, DeviceAdamW, type DeviceAdamWOptions, type UpdatedParameter } from "./optim/device-adamw.js";
export { learningRateSchedule, type Decay, type ScheduleOptions } from "./optim/schedule.js";
export { GradientAccumulator, clipGradNorm, gradNorm } from "./optim/gradients.js";

export { argmax } from "./sampling/argmax.js";
export { conformanceOps, conformanceSuite } from "./conformance/suite.js";
export { ConformanceError, opConformanceCases, type ConformanceCase, type OpConformanceSpec } from "./conformance/op-cases.js";
export type { Ref as ReferenceTensor } from "./conformance/reference.js";
export {
  createFamilyModel,
  detectModelFamily,
  getModelFamily,
  isPreset,
  listModelFamilies,
  listPresets,
  presetConfig,
  registerModelFamily,
  unregisterModelFamily,
  type ChunkOutput,
  type CreateOptions,
  type FamilyModel,
  type LoadStateDictOptions,
  type ModelConfig,
  type ModelFamily,
  type PositionFeeds,
  type Preset,
  type SequenceForm,
  type StateSpec,
} from "./model/family.js";
export { CausalLM, shiftedLoss, type CausalLMOptions, type ForwardMode } from "./model/causal-lm.js";
export { loadCausalLM, readModelConfig, type LoadOptions } from "./model/load.js";
export { GraphDecoder, type Decoder, type DecoderSetup, type GraphDecoderOptions, type TokenDraw } from "./model/decoder.js";
export { DecoderSnapshot } from "./model/snapshot.js";
export { BatchDecoder, BatchStream, MAX_TOP_LOGPROBS, type BatchDecoderOptions, type DrawnToken, type StreamSettings } from "./model/batch-decoder.js";
export type { DrawSettings } from "./model/draw.js";
export { checkTokenIds, TokenIdError } from "./model/token-ids.js";
export { pastName, presentName } from "./model/state-names.js";
export { concatPositions, lastPosition } from "./model/logits.js";
export { SAMPLE_SEARCH_STEPS, type SampleAttrs } from "./ops/sample.js";
export { parameterFiniteDifference } from "./conformance/finite-difference.js";
export { worstOverRoundingBound } from "./conformance/activation-rounding.js";
