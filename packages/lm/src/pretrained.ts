import { blobSource, CausalLM, DenseSSMError, folderSource, hubSource, isHubName, urlSource, type FileProgress, type FileSource, type HubOptions, type LoadOptions, type NamedBlob } from "@densessm/core";
import { tokenizerFromFiles, type Tokenizer } from "@densessm/tokenizer";
import { resolveModelDir } from "./checkpoint.js";

/**
 * Where a pretrained model comes from: a folder or training run on disk (Node), a model name on a
 * hub ("org/name", downloaded once into a cache), an http(s) URL of a folder, files a user picked
 * (a browser FileList), or any FileSource.
 */
export type ModelSource = string | URL | FileSource | Iterable<NamedBlob>;

export interface PretrainedOptions extends LoadOptions, Pick<HubOptions, "hubUrl" | "revision" | "cacheDir" | "offline" | "cacheStorage"> {
  /** Called as each file is read or downloaded. */
  onProgress?: (event: FileProgress) => void;
  signal?: AbortSignal;
  /** The fetch for URL sources (default: the global one). */
  fetch?: typeof fetch;
}

/** A model with its tokenizer, not yet bound to a session. */
export interface PretrainedModel {
  lm: CausalLM;
  tokenizer: Tokenizer;
}

/** The FileSource a ModelSource stands for (a run folder stands for its latest checkpoint). */
export async function resolveSource(source: ModelSource, options: Omit<PretrainedOptions, keyof LoadOptions> = {}): Promise<FileSource> {
  if (source instanceof URL || (typeof source === "string" && /^https?:\/\//i.test(source))) return urlSource(String(source), options);
  // "org/name" is a hub model unless such a folder exists here (a local folder always wins).
  if (typeof source === "string" && isHubName(source) && !(await isLocalPath(source))) return hubSource(source, options);
  if (typeof source === "string") return folderSource(await resolveModelDir(source), options);
  if (isFileSource(source)) return source;
  return blobSource(source);
}

/**
 * Loads a model and the tokenizer saved beside it, from any ModelSource, in Node or a browser.
 * The tokenizer must fit the model's vocabulary.
 */
export async function loadPretrained(source: ModelSource, options: PretrainedOptions = {}): Promise<PretrainedModel> {
  const files = await resolveSource(source, options);
  const lm = await CausalLM.fromPretrained(files, options);
  let tokenizer: Tokenizer;
  try {
    tokenizer = await tokenizerFromFiles(files);
  } catch (e) {
    throw new DenseSSMError(`${files.location}: no usable tokenizer beside the model (${(e as Error).message})`);
  }
  assertVocabularyFits(lm, tokenizer.vocabSize, files.location);
  return { lm, tokenizer };
}

export function assertVocabularyFits(lm: CausalLM, tokenizerSize: number, where: string): void {
  if (tokenizerSize > lm.vocabSize) {
    throw new DenseSSMError(`${where}: the tokenizer has ${tokenizerSize} tokens but the model's vocabulary is ${lm.vocabSize}; they do not belong together`);
  }
}

async function isLocalPath(path: string): Promise<boolean> {
  if (typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node !== "string") return false;
  const { access } = await import("node:fs/promises");
  return access(path).then(() => true, () => false);
}

function isFileSource(source: object): source is FileSource {
  return typeof (source as FileSource).read === "function" && typeof (source as FileSource).location === "string";
}
