import { fetchModel, loadModelFromFiles, readModelFiles, type FetchProgress, type LoadedModel, type ModelFiles } from "@densessm/lm";

/** Where a model comes from: a folder URL (bundled ones are relative URLs) or files the user picked. */
export type ModelSource = { kind: "url"; url: string } | { kind: "files"; files: FileList };

export interface LoadProgress {
  /** Bytes so far over all files, and the sum of the sizes the server announced (0 when unknown). */
  loaded: number;
  total: number;
  file: string;
}

/** Downloads or reads a model folder and builds the model and tokenizer from it. */
export async function loadModel(source: ModelSource, onProgress: (p: LoadProgress) => void, signal?: AbortSignal): Promise<LoadedModel & { name: string }> {
  let files: ModelFiles;
  let name: string;
  if (source.kind === "url") {
    name = source.url;
    // Per-file progress events become one running total over the folder.
    const seen = new Map<string, FetchProgress>();
    const report = (event: FetchProgress) => {
      seen.set(event.file, event);
      let loaded = 0;
      let total = 0;
      for (const e of seen.values()) {
        loaded += e.loaded;
        total += e.total ?? e.loaded;
      }
      onProgress({ loaded, total, file: event.file });
    };
    files = await fetchModel(source.url, signal ? { onProgress: report, signal } : { onProgress: report });
  } else {
    const list = Array.from(source.files);
    name = list[0]?.webkitRelativePath.split("/")[0] || "picked files";
    const total = list.reduce((n, f) => n + f.size, 0);
    onProgress({ loaded: 0, total, file: name });
    files = await readModelFiles(list, name);
    onProgress({ loaded: total, total, file: name });
  }
  return { ...loadModelFromFiles(files, name), name };
}
