import { blobSource, urlSource, type FileProgress, type FileSource } from "@densessm/core";
import { loadPretrained, type PretrainedModel } from "@densessm/lm";
import { cachingFetch, type CacheRecord } from "./model-cache.js";
import type { ModelInfo, ModelSource } from "./protocol.js";

export interface LoadProgress {
  /** Bytes so far over all files, and the sum of the sizes known so far (0 when unknown). */
  readonly loaded: number;
  readonly total: number;
  readonly file: string;
  /** Whether this file came from the cache. */
  readonly cached: boolean;
}

/**
 * Downloads (through the Cache API) or reads a model folder and builds the model and tokenizer
 * from it, reporting a running byte count over the folder.
 */
export async function loadModel(source: ModelSource, onProgress: (p: LoadProgress) => void): Promise<{ model: PretrainedModel; info: ModelInfo }> {
  const record: CacheRecord = { hits: new Set(), writes: [] };
  const seen = new Map<string, { loaded: number; total?: number; cached: boolean }>();
  let files: FileSource;
  const report = (event: FileProgress) => {
    if (event.status === "initiate") return;
    const cached = source.kind === "url" && record.hits.has(new URL(event.file, files.location).href);
    seen.set(event.file, { loaded: event.loaded, cached, ...(event.status === "progress" && event.total !== undefined ? { total: event.total } : {}) });
    const { loaded, total } = totals(seen);
    onProgress({ loaded, total, file: event.file, cached });
  };
  if (source.kind === "url") files = urlSource(source.url, { onProgress: report, fetch: cachingFetch(record) });
  else files = progressOf(blobSource(source.files, source.name), report);
  const model = await loadPretrained(files);
  await Promise.all(record.writes);
  const q = model.lm.quantization;
  const info: ModelInfo = {
    name: source.kind === "url" ? source.url : source.name,
    family: model.lm.family,
    parameters: model.lm.numParameters(),
    quantization: q && (q.bits === 8 ? "int8" : `4-bit, groups of ${q.groupSize}`),
    vocabSize: model.tokenizer.vocabSize,
    bytes: totals(seen).loaded,
    cachedBytes: [...seen.values()].filter((f) => f.cached).reduce((n, f) => n + f.loaded, 0),
  };
  return { model, info };
}

function totals(seen: ReadonlyMap<string, { loaded: number; total?: number }>): { loaded: number; total: number } {
  let loaded = 0;
  let total = 0;
  for (const e of seen.values()) {
    loaded += e.loaded;
    total += e.total ?? e.loaded;
  }
  return { loaded, total };
}

/** Reports each picked file once it has been read (they are local: no partial progress). */
function progressOf(source: FileSource, report: (event: FileProgress) => void): FileSource {
  return {
    location: source.location,
    async read(name) {
      const bytes = await source.read(name);
      if (bytes) report({ status: "done", file: name, loaded: bytes.length });
      return bytes;
    },
  };
}
