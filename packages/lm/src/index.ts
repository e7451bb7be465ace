// @densessm/lm: the library API behind the densessm CLI. Load any registered model family with its
// tokenizer (from a folder, a URL or picked files), stream generated text, train with resumable
// checkpoints, evaluate perplexity, compare models. Importing it registers the families we ship.
import "./families.js";

export { LanguageModel, type FromPretrainedOptions, type LoadProgress } from "./language-model.js";
export { convertModel, TOKENIZER_FILES, type ConvertOptions, type ConvertResult } from "./convert.js";
export { loadPretrained, resolveSource, type ModelSource, type PretrainedModel, type PretrainedOptions } from "./pretrained.js";
export { generateText, generateTokens, type GenerateOptions, type GeneratedToken, type TextPiece } from "./generate.js";
export { TextStream } from "./text-stream.js";
export { evaluatePerplexity, type PerplexityOptions, type PerplexityReport } from "./evaluate.js";
export { checkSeed } from "./seed.js";
export { METRICS, train, validationLoss, type TrainEvent, type TrainOptions, type TrainResult } from "./train.js";
export { cleanRunFolder, LATEST, TRAINING_STATE, readTrainingState, resolveModelDir, writeCheckpoint, type EvaluationEntry, type HistoryEntry, type TrainingState } from "./checkpoint.js";
export { BatchSampler, evaluationBatches, readCorpus, splitTokens } from "./data.js";
export { configFor, createModel, type ModelSpec } from "./model-spec.js";
export { lineChartSvg, lossCurveSvg, panelsSvg, type Series } from "./plot.js";
export { compare, type CompareOptions, type CompareResult, type CompareRow } from "./compare.js";
export { benchmark, type BenchmarkOptions, type BenchmarkReport } from "./benchmark.js";
export { study, type RunResult, type StudyEvent, type StudyOptions, type StudyStatus } from "./study/study.js";
export { checkGrid, readGrid, type StudyConfiguration, type StudyGrid, type StudyTraining } from "./study/grid.js";
export { writeStudyReport, type StudyReport, type StudyReportInput, type StudyRow } from "./study/report.js";
export { mqarBatch, resolveMqarOptions, trainMqar, type MqarAccuracy, type MqarBatch, type MqarCell, type MqarOptions, type MqarResult, type MqarTrainEvent, type ResolvedMqarOptions } from "./study/mqar.js";
export { mean, pairedDifference, std, studentTQuantile, type PairedDifference } from "./study/stats.js";
export { analyzeHiddenStates, writeAnalysisReport, type AnalyzeOptions, type HiddenStateAnalysis, type LayerAnalysis } from "./analysis/analyze.js";
export { linearProbeAccuracy } from "./analysis/probe.js";
export { quantizeModel, type QuantizeModelOptions, type QuantizeModelReport } from "./quantize.js";
