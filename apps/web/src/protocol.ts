// The messages between the page (main.ts) and the model worker (worker.ts). The page never runs a
// model itself: loading, decoding and the Cache API all live in the worker, so the page stays
// responsive whatever the backend does.

import type { GenerationStats } from "./generation.js";

/** Where a model comes from: a folder URL (bundled ones are relative URLs) or files the user picked. */
export type ModelSource = { readonly kind: "url"; readonly url: string } | { readonly kind: "files"; readonly files: readonly File[]; readonly name: string };

export interface GenerateSettings {
  readonly backend: string;
  readonly prompt: string;
  readonly maxNewTokens: number;
  readonly temperature: number;
  readonly topK: number;
  readonly topP: number;
}

export type ToWorker =
  | { readonly type: "load"; readonly source: ModelSource }
  | { readonly type: "generate"; readonly settings: GenerateSettings }
  | { readonly type: "stop" }
  | { readonly type: "clear-cache" };

/** What the page shows about a loaded model. */
export interface ModelInfo {
  readonly name: string;
  readonly family: string;
  readonly parameters: number;
  /** e.g. "int8" or "4-bit, groups of 64"; undefined for float weights. */
  readonly quantization: string | undefined;
  readonly vocabSize: number;
  /** Bytes of the model's files, and how many of them came from the cache. */
  readonly bytes: number;
  readonly cachedBytes: number;
}

export type FromWorker =
  | { readonly type: "progress"; readonly loaded: number; readonly total: number; readonly file: string; readonly cached: boolean }
  | { readonly type: "loaded"; readonly info: ModelInfo }
  | { readonly type: "load-error"; readonly message: string }
  | { readonly type: "token"; readonly token: number; readonly text: string; readonly stats: GenerationStats }
  /** `tokensAfterStop`: tokens the worker produced after the Stop message reached it. */
  | { readonly type: "done"; readonly promptIds: number[]; readonly tokens: number[]; readonly stopped: boolean; readonly tokensAfterStop: number }
  | { readonly type: "generate-error"; readonly message: string }
  | { readonly type: "cache-cleared"; readonly files: number };
