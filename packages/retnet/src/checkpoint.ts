import { FormatError, readSafetensorsFolder, writeFileAtomic, writeSafetensorsFolder, type Module, type Tensor } from "@densessm/core";

/** Reads `config.json` from a Hugging Face style folder. */
export async function readConfigJSON(dir: string): Promise<Record<string, unknown>> {
  const { readFile } = await import("node:fs/promises");
  const { join } = await import("node:path");
  const file = join(dir, "config.json");
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    throw new FormatError(`${file}: cannot read (${(e as Error).message})`);
  }
  try {
    const json: unknown = JSON.parse(text);
    if (typeof json !== "object" || json === null || Array.isArray(json)) throw new Error("not a JSON object");
    return json as Record<string, unknown>;
  } catch (e) {
    throw new FormatError(`${file}: invalid config (${(e as Error).message})`);
  }
}

/**
 * Loads weights (model.safetensors or a sharded index; f32/f16/bf16) into `module` by the official
 * parameter names. Every unknown, missing or mis-shaped tensor is named in one FormatError.
 * A tied lm_head may be absent from the file: it is the embedding.
 */
export async function loadWeights(module: Module, dir: string, options: { tiedNames?: readonly string[] } = {}): Promise<void> {
  const tensors = await readSafetensorsFolder(dir);
  const dict = new Map<string, Tensor>(tensors);
  const params = new Map(module.allNamedParameters());
  for (const name of options.tiedNames ?? []) {
    if (dict.has(name)) continue;
    const p = params.get(name);
    const source = p && [...params].find(([n, q]) => q === p && n !== name && dict.has(n));
    if (source) dict.set(name, dict.get(source[0])!);
  }
  for (const [name, t] of dict) {
    if (t.dtype === "int32") throw new FormatError(`${dir}: tensor "${name}" is an integer tensor; expected floating point weights`);
  }
  module.loadStateDict(dict);
}

/** Writes config.json and model.safetensors (float32, official names) so PyTorch can load them. */
export async function saveCheckpoint(dir: string, config: Record<string, unknown>, module: Module): Promise<void> {
  const { mkdir } = await import("node:fs/promises");
  const { join } = await import("node:path");
  await mkdir(dir, { recursive: true });
  await writeSafetensorsFolder(dir, module.stateDict());
  await writeFileAtomic(join(dir, "config.json"), `${JSON.stringify(config, null, 2)}\n`);
}
