import { blobSource, urlSource, type FileProgress, type FileSource } from "@densessm/core";
import { loadPretrained, type PretrainedModel } from "@densessm/lm";

/** Where a model comes from: a folder URL (bundled ones are relative URLs) or files the user picked. */
export type ModelSource = { kind: "url"; url: string } | { kind: "files"; files: FileList };

export interface LoadProgress {
  /** Bytes so far over all files, and the sum of the sizes known so far (0 when unknown). */
  loaded: number;
  total: number;
  file: string;
}

/** Downloads or reads a model folder and builds the model and tokenizer from it. */
export async function loadModel(source: ModelSource, onProgress: (p: LoadProgress) => void, signal?: AbortSignal): Promise<PretrainedModel & { name: string }> {
  // Per-file progress events become one running total over the folder.
  const seen = new Map<string, { loaded: number; total?: number }>();
  const report = (event: FileProgress) => {
    if (event.status === "initiate") return;
    seen.set(event.file, { loaded: event.loaded, ...(event.status === "progress" && event.total !== undefined ? { total: event.total } : {}) });
    let loaded = 0;
    let total = 0;
    for (const e of seen.values()) {
      loaded += e.loaded;
      total += e.total ?? e.loaded;
    }
    onProgress({ loaded, total, file: event.file });
  };
  let files: FileSource;
  let name: string;
  if (source.kind === "url") {
    name = source.url;
    files = urlSource(source.url, signal ? { onProgress: report, signal } : { onProgress: report });
  } else {
    const list = Array.from(source.files);
    name = list[0]?.webkitRelativePath.split("/")[0] || "picked files";
    files = progressOf(blobSource(list, name), report);
  }
  return { ...(await loadPretrained(files)), name };
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
