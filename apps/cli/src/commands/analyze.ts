import { readFile } from "node:fs/promises";
import { basename, resolve } from "node:path";
import type { Command } from "commander";
import { Session } from "@densessm/core";
import { analyzeHiddenStates, loadPretrained, writeAnalysisReport, type HiddenStateAnalysis } from "@densessm/lm";
import { CliError } from "../errors.js";
import { collect, nonNegativeInt, positiveInt } from "../options.js";
import { commandLine } from "../invocation.js";

interface AnalyzeFlags {
  model: string[];
  label?: string[];
  text: string;
  out: string;
  window: number;
  maxTokens: number;
  lags: number[];
  backend?: string;
  json?: boolean;
}

export function registerAnalyze(program: Command): void {
  program
    .command("analyze")
    .description(
      "Per layer, how much of the shallow layers' information the deep layers still carry: cosine similarity of each layer's hidden state to the embedding and to the first layer, and a linear probe's accuracy at reading the input token. Give a dense and a plain model to plot them side by side.",
    )
    .requiredOption("--model <dir>", "model folder or training run (repeat to compare)", collect)
    .option("--label <name>", "name of each --model in the table and plot (repeat in the same order; default: the folder name)", collect)
    .requiredOption("--text <file>", "text to run through the models")
    .option("--out <dir>", "where analysis.md, analysis.svg and analysis.json go", "runs/analysis")
    .option("--window <n>", "tokens per window", positiveInt, 128)
    .option("--max-tokens <n>", "tokens analysed at most", positiveInt, 8192)
    .option("--lags <list>", "which tokens the probe reads: 0 = the input token, 1 = the one before, …", (v: string) => v.split(",").map((s) => nonNegativeInt(s.trim())), [0, 1])
    .option("--backend <name>", "backend (default: best available)")
    .option("--json", "print the analyses as JSON")
    .action(async (flags: AnalyzeFlags) => {
      if (flags.label && flags.label.length !== flags.model.length) throw new CliError(`analyze: ${flags.label.length} --label for ${flags.model.length} --model; give one per model or none`);
      let text: string;
      try {
        text = await readFile(flags.text, "utf8");
      } catch (e) {
        throw new CliError(`cannot read --text ${flags.text}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message}`);
      }
      const session = await Session.create(flags.backend);
      const analyses: HiddenStateAnalysis[] = [];
      for (const [i, dir] of flags.model.entries()) {
        const { lm, tokenizer } = await loadPretrained(dir);
        const tokens = Int32Array.from(tokenizer.encode(text, { addSpecialTokens: false }));
        const model = flags.label?.[i] ?? (basename(resolve(dir)).replace(/^step-\d+$/, "") || dir);
        analyses.push(await analyzeHiddenStates(lm, session, tokens, { model, window: flags.window, maxTokens: flags.maxTokens, lags: flags.lags }));
        session.dispose();
      }
      const files = await writeAnalysisReport(analyses, flags.out, { text: basename(flags.text), command: commandLine() });
      if (flags.json) return console.log(JSON.stringify({ analyses, files }));
      console.log(await readFile(files.table, "utf8"));
      console.log(`plot: ${files.plot}\ndata: ${files.json}`);
    });
}
