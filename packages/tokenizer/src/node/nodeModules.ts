// Node built-ins are loaded on demand so that importing this package in a browser never touches
// them; only the file helpers (fromPretrained, saveTokenizer, tokenizeJsonl, …) call these. Type-only
// imports are erased at build time.
import type * as FsPromises from "node:fs/promises";
import type * as Path from "node:path";

export async function nodeFs(): Promise<typeof FsPromises> {
  return import("node:fs/promises");
}

export async function nodePath(): Promise<typeof Path> {
  return import("node:path");
}

/** Reads a file if it exists; `undefined` when it does not (other errors propagate). */
export async function readIfExists(path: string): Promise<Buffer | undefined> {
  const fs = await nodeFs();
  try {
    return await fs.readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}
