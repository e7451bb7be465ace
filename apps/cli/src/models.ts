import { access, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { CausalLM } from "@densessm/core";
import { CliError } from "./errors.js";

interface Family {
  name: string;
  /** Whether a config.json belongs to this family. */
  matches(config: Record<string, unknown>): boolean;
  load(dir: string): Promise<CausalLM>;
}

const families: Family[] = [];

/** Model packages plug into the CLI here (see families.ts). */
export function registerFamily(family: Family): void {
  families.push(family);
}

/** Loads a checkpoint folder, picking the model family from its config.json. */
export async function loadCausalLM(dir: string): Promise<CausalLM> {
  const configPath = join(dir, "config.json");
  try {
    await access(configPath);
  } catch {
    throw new CliError(`${dir} is not a model folder: it has no config.json`);
  }
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(await readFile(configPath, "utf8")) as Record<string, unknown>;
  } catch (e) {
    throw new CliError(`${configPath} is not valid JSON: ${(e as Error).message}`);
  }
  const family = families.find((f) => f.matches(config));
  if (!family) throw new CliError(`${configPath}: not a model this CLI knows (known families: ${families.map((f) => f.name).join(", ")})`);
  return family.load(dir);
}
