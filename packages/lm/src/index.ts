// @densessm/lm: the library API behind the densessm CLI. Load any model family with its tokenizer,
// stream generated text, train with resumable checkpoints, evaluate perplexity, compare models.
export { LanguageModel, type FromPretrainedOptions, type LoadProgress } from "./language-model.js";
export { generateText, generateTokens, type GenerateOptions, type GeneratedToken, type TextPiece } from "./generate.js";
export { evaluatePerplexity, type PerplexityOptions, type PerplexityReport } from "./evaluate.js";
export { train, validationLoss, type TrainEvent, type TrainOptions, type TrainResult } from "./train.js";
export { LATEST, TRAINING_STATE, readTrainingState, resolveModelDir, writeCheckpoint, type EvaluationEntry, type HistoryEntry, type TrainingState } from "./checkpoint.js";
export { BatchSampler, evaluationBatches, readCorpus, splitTokens } from "./data.js";
export { createModel, familyOf, loadModel } from "./models.js";
export { PRESETS, isPreset, presetConfig, type PresetName } from "./presets.js";
export { lineChartSvg, lossCurveSvg, type Series } from "./plot.js";
export { compare, type CompareOptions, type CompareResult, type CompareRow } from "./compare.js";
export { benchmark, type BenchmarkOptions, type BenchmarkReport } from "./benchmark.js";
export { fetchModel, loadModelFromFiles, readModelFiles, type FetchModelOptions, type FetchProgress, type LoadedModel, type ModelFiles, type NamedBlob } from "./browser-load.js";
