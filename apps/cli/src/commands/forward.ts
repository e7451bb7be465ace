import { CausalLM, Session, writeFileAtomic, type ForwardMode, type Tensor } from "@densessm/core";
import { resolveModelDir } from "@densessm/lm";
import { CliError } from "../errors.js";
import { parseIdRows, readJson } from "../io.js";

export interface ForwardOptions {
  model: string;
  ids: string;
  mode: ForwardMode;
  backend?: string;
  out?: string;
  /** A JSON file with reference logits (`logits`, or `logits_parallel` / `logits_recurrent`). */
  reference?: string;
  /** Load weights holding NaN/Inf instead of refusing them. */
  allowNonFinite?: boolean;
}

/** Fails before any work when `file` could not be written at the end: its folder must exist. */
async function checkWritableFolder(file: string): Promise<void> {
  const { stat } = await import("node:fs/promises");
  const { dirname } = await import("node:path");
  const dir = dirname(file);
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) throw new CliError(`--out ${file}: the folder ${dir} does not exist`);
}

export interface ForwardResult {
  family: string;
  mode: ForwardMode;
  backend: string;
  shape: number[];
  seconds: number;
  /** Greedy next token at each position of each row. */
  argmax: number[][];
  /** Max |ours - reference| when a reference was given. */
  maxAbsErrorVsReference?: number;
  out?: string;
}

function argmaxRows(logits: Tensor): number[][] {
  const [b, l, v] = logits.shape as [number, number, number];
  const d = logits.toFloat32();
  return Array.from({ length: b }, (_, i) =>
    Array.from({ length: l }, (_, t) => {
      let best = 0;
      for (let k = 1; k < v; k++) if (d[(i * l + t) * v + k]! > d[(i * l + t) * v + best]!) best = k;
      return best;
    }),
  );
}

async function maxAbsError(logits: Tensor, file: string, mode: ForwardMode): Promise<number> {
  const ref = (await readJson(file, "reference")) as Record<string, unknown>;
  const key = [`logits_${mode === "chunkwise" ? "parallel" : mode}`, "logits"].find((k) => k in ref);
  if (!key) throw new CliError(`reference ${file} has no "logits" or "logits_${mode}" array`);
  const flat = (ref[key] as unknown[]).flat(Infinity) as number[];
  const ours = logits.toFloat32();
  if (flat.length !== ours.length) throw new CliError(`reference ${file}: ${key} has ${flat.length} values, our logits have ${ours.length} (shape [${logits.shape.join(", ")}])`);
  return flat.reduce((m, v, i) => Math.max(m, Math.abs(v - ours[i]!)), 0);
}

/** `densessm forward`: runs a checkpoint on rows of token ids and writes the logits. */
export async function forward(options: ForwardOptions): Promise<ForwardResult> {
  if (options.out) await checkWritableFolder(options.out);
  const lm = await CausalLM.fromPretrained(await resolveModelDir(options.model), { allowNonFinite: options.allowNonFinite });
  if (!lm.modes.includes(options.mode)) throw new CliError(`--mode ${options.mode} is not available for ${lm.family} (available: ${lm.modes.join(", ")})`);
  const ids = parseIdRows(await readJson(options.ids, "ids file"), options.ids, lm.vocabSize);
  const session = await Session.create(options.backend);
  const start = performance.now();
  const logits = await lm.logits(session, ids, options.mode);
  const seconds = (performance.now() - start) / 1000;
  const result: ForwardResult = { family: lm.family, mode: options.mode, backend: session.backend.name, shape: [...logits.shape], seconds, argmax: argmaxRows(logits) };
  if (options.reference) result.maxAbsErrorVsReference = await maxAbsError(logits, options.reference, options.mode);
  if (options.out) {
    await writeFileAtomic(options.out, JSON.stringify({ logits: logits.toArray() }));
    result.out = options.out;
  }
  return result;
}

export function formatForward(r: ForwardResult): string {
  const lines = [
    `${r.family}: ${r.mode} forward on ${r.backend}, logits [${r.shape.join(", ")}] in ${r.seconds.toFixed(3)} s`,
    ...r.argmax.map((row, i) => `  row ${i} greedy next tokens: ${row.join(" ")}`),
  ];
  if (r.maxAbsErrorVsReference !== undefined) lines.push(`  max |logits - reference| = ${r.maxAbsErrorVsReference.toExponential(2)}`);
  if (r.out) lines.push(`  wrote ${r.out}`);
  return lines.join("\n");
}
