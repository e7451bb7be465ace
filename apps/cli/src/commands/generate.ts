import { existsSync } from "node:fs";
import type { Command } from "commander";
import { LanguageModel } from "@densessm/lm";
import { CliError } from "../errors.js";
import { collect, seed, nonNegativeInt, nonNegativeNumber, positiveNumber, fraction } from "../options.js";
import { downloadProgress } from "../progress.js";

interface GenerateFlags {
  model: string;
  prompt?: string[];
  maxTokens: number;
  temperature: number;
  topK?: number;
  topP?: number;
  repetitionPenalty: number;
  stop?: string[];
  seed: number;
  backend?: string;
  hubUrl?: string;
  offline?: boolean;
  allowNonfinite?: boolean;
  json?: boolean;
}

export function registerGenerate(program: Command): void {
  program
    .command("generate")
    .description("Stream generated text from a model folder or training run (prompts are prefilled, then decoded token by token).")
    .requiredOption("--model <dir|org/name>", "model folder, training run folder, URL, or a hub model name (downloaded once into ~/.cache/densessm)")
    .option("--prompt <text>", "prompt (repeat for a batch of prompts)", collect)
    .option("--max-tokens <n>", "tokens to generate per prompt", nonNegativeInt, 64)
    .option("--temperature <x>", "sampling temperature (0: greedy)", nonNegativeNumber, 0)
    .option("--top-k <n>", "sample from the k most likely tokens (0: off)", nonNegativeInt)
    .option("--top-p <x>", "nucleus sampling mass", fraction)
    .option("--repetition-penalty <x>", "> 1 discourages repeats", positiveNumber, 1)
    .option("--stop <text>", "stop a prompt's text at this string (repeatable)", collect)
    .option("--seed <n>", "sampling seed (0 to 4294967295)", seed, 0)
    .option("--backend <name>", "backend (default: best available)")
    .option("--hub-url <url>", "model hub for org/name models (default: $DENSESSM_HUB_URL or https://huggingface.co)")
    .option("--offline", "use only what is cached (also: DENSESSM_OFFLINE=1)")
    .option("--allow-nonfinite", "load weights holding NaN/Inf instead of refusing them")
    .option("--json", "print {\"texts\": [...]} at the end instead of streaming")
    .action(async (flags: GenerateFlags) => {
      const prompts = flags.prompt ?? [];
      if (prompts.length === 0) throw new CliError("generate: give at least one --prompt");
      const model = await LanguageModel.fromPretrained(flags.model, { backend: flags.backend, hubUrl: flags.hubUrl, offline: flags.offline, allowNonFinite: flags.allowNonfinite, onProgress: existsSync(flags.model) ? undefined : downloadProgress() });
      const abort = new AbortController();
      const stop = () => abort.abort();
      process.once("SIGINT", stop);
      const texts = prompts.map(() => "");
      try {
        const options = { maxNewTokens: flags.maxTokens, temperature: flags.temperature, topK: flags.topK, topP: flags.topP, repetitionPenalty: flags.repetitionPenalty, stop: flags.stop, seed: flags.seed, signal: abort.signal };
        if (prompts.length === 1 && !flags.json) {
          process.stdout.write(prompts[0]!);
          for await (const piece of model.generate(prompts[0]!, options)) process.stdout.write(piece);
          process.stdout.write("\n");
          return;
        }
        for await (const { index, text } of model.generateBatch(prompts, options)) texts[index] += text;
      } finally {
        process.off("SIGINT", stop);
      }
      if (flags.json) console.log(JSON.stringify({ texts }));
      else prompts.forEach((p, i) => console.log(`[${i}] ${p}${texts[i]}`));
    });
}
