import { DenseSSMError, writeFileAtomic } from "@densessm/core";
import { saveTokenizer, loadTokenizer as loadTokenizerFile, trainTokenizer } from "@densessm/tokenizer";
import { readCorpus } from "./data.js";
import { lineChartSvg } from "./plot.js";
import { mean, std } from "./study/stats.js";
import { train, type TrainEvent, type TrainOptions } from "./train.js";

export interface CompareOptions extends Omit<TrainOptions, "model" | "out" | "seed" | "resume" | "onProgress"> {
  /** Two or more presets or config.json paths. */
  models: readonly string[];
  seeds?: readonly number[];
  out: string;
  onProgress?: (event: { model: string; seed: number; event: TrainEvent }) => void;
}

export interface CompareRow {
  model: string;
  parameters: number;
  /** Final validation loss per seed, in seed order. */
  finalLoss: number[];
  meanLoss: number;
  stdLoss: number;
  meanPerplexity: number;
  /** Mean validation curve over seeds: [step, loss]. */
  curve: [number, number][];
}

export interface CompareResult {
  rows: CompareRow[];
  seeds: number[];
  /** Largest relative difference between parameter counts. */
  sizeMismatch: number;
  files: { table: string; plot: string; json: string };
}

/**
 * Trains several model configurations on the same data, tokenizer, token budget and batches (per
 * seed), then writes a table (markdown + JSON) and one plot of their validation curves. This is how
 * the paper's claims (DenseRetNet beats RetNet, DenseMamba beats Mamba at equal size) get checked.
 */
export async function compare(options: CompareOptions): Promise<CompareResult> {
  const { join } = await import("node:path");
  const { mkdir } = await import("node:fs/promises");
  if (options.models.length < 2) throw new DenseSSMError("compare needs at least two models");
  const seeds = [...(options.seeds ?? [0, 1, 2])];
  await mkdir(options.out, { recursive: true });

  // One tokenizer for every run, so losses are per the same tokens.
  const tokenizerDir = join(options.out, "tokenizer");
  const tokenizer = options.tokenizer ? await loadTokenizerFile(options.tokenizer) : trainTokenizer((await readCorpus(options.data)).text, { vocabSize: options.vocabSize ?? 1024 });
  await saveTokenizer(tokenizer, tokenizerDir);

  const rows: CompareRow[] = [];
  for (const model of options.models) {
    const finals: number[] = [];
    const curves: [number, number][][] = [];
    let parameters = 0;
    for (const seed of seeds) {
      const name = model.replace(/[^A-Za-z0-9._-]+/g, "_");
      const result = await train({
        ...options,
        model,
        seed,
        tokenizer: tokenizerDir,
        out: join(options.out, "runs", `${name}-seed${seed}`),
        keepCheckpoints: 1,
        onProgress: (event) => options.onProgress?.({ model, seed, event }),
      });
      parameters = result.parameters;
      finals.push(result.validation.loss);
      curves.push(result.evaluations.map((e) => [e.step, e.loss]));
    }
    const steps = curves[0]!.map(([s]) => s);
    const curve = steps.map((s, i) => [s, mean(curves.map((c) => c[i]?.[1] ?? NaN))] as [number, number]);
    rows.push({ model, parameters, finalLoss: finals, meanLoss: mean(finals), stdLoss: std(finals), meanPerplexity: mean(finals.map(Math.exp)), curve });
  }
  const sizes = rows.map((r) => r.parameters);
  const sizeMismatch = Math.max(...sizes) / Math.min(...sizes) - 1;

  const best = Math.min(...rows.map((r) => r.meanLoss));
  const table = [
    `| model | parameters | validation loss (mean ± std over ${seeds.length} seeds) | perplexity | per seed |`,
    "| --- | ---: | ---: | ---: | --- |",
    ...rows.map((r) => `| ${r.model}${r.meanLoss === best ? " **(best)**" : ""} | ${r.parameters.toLocaleString("en")} | ${r.meanLoss.toFixed(4)} ± ${r.stdLoss.toFixed(4)} | ${r.meanPerplexity.toFixed(2)} | ${r.finalLoss.map((l) => l.toFixed(4)).join(", ")} |`),
  ].join("\n");
  const files = { table: join(options.out, "compare.md"), plot: join(options.out, "compare.svg"), json: join(options.out, "compare.json") };
  await writeFileAtomic(files.table, `${table}\n\nParameter counts differ by at most ${(sizeMismatch * 100).toFixed(1)} %. Seeds: ${seeds.join(", ")}.\n`);
  await writeFileAtomic(files.plot, lineChartSvg(rows.map((r) => ({ name: `${r.model} (${(r.parameters / 1e6).toFixed(2)}M)`, points: r.curve })), { title: `Validation loss, mean of ${seeds.length} seeds`, x: "step", y: "cross-entropy (nats/token)" }));
  await writeFileAtomic(files.json, JSON.stringify({ seeds, sizeMismatch, rows }, null, 1));
  return { rows, seeds, sizeMismatch, files };
}
