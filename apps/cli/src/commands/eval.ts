import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { Option } from "commander";
import { LanguageModel } from "@densessm/lm";
import { CliError } from "../errors.js";
import { positiveInt } from "../options.js";

interface EvalFlags {
  model: string;
  text: string;
  window: number;
  stride?: number;
  mode: "parallel" | "recurrent" | "chunkwise";
  backend?: string;
  json?: boolean;
}

export function registerEval(program: Command): void {
  program
    .command("eval")
    .description("Perplexity of a model on a text file: token-level, per word and bits per byte.")
    .requiredOption("--model <dir>", "model folder or training run folder")
    .requiredOption("--text <file>", "text file to score")
    .option("--window <n>", "tokens per window", positiveInt, 256)
    .option("--stride <n>", "window step; smaller than --window gives a sliding window (default: disjoint chunks)", positiveInt)
    .addOption(new Option("--mode <mode>", "form of the model").choices(["parallel", "recurrent", "chunkwise"]).default("parallel"))
    .option("--backend <name>", "backend (default: best available)")
    .option("--json", "print the report as JSON")
    .action(async (flags: EvalFlags) => {
      let text: string;
      try {
        text = await readFile(flags.text, "utf8");
      } catch (e) {
        throw new CliError(`cannot read --text ${flags.text}: ${(e as Error).message}`);
      }
      const model = await LanguageModel.fromPretrained(flags.model, { backend: flags.backend });
      const r = await model.perplexity(text, { window: flags.window, stride: flags.stride, mode: flags.mode });
      if (flags.json) return console.log(JSON.stringify(r));
      console.log(
        [
          `${r.tokens.toLocaleString("en")} tokens scored (${r.mode} form, window ${r.window}, stride ${r.stride})`,
          `token-level perplexity ${r.tokenPerplexity.toFixed(3)}  (${r.nllPerToken.toFixed(4)} nats/token)`,
          `word-level perplexity  ${r.wordPerplexity.toFixed(3)}  (whitespace-separated words)`,
          `bits per byte          ${r.bitsPerByte.toFixed(4)}  (UTF-8 bytes; comparable across tokenizers)`,
        ].join("\n"),
      );
    });
}
