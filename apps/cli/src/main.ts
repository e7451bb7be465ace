import { Command, CommanderError, Option } from "commander";
import { DenseSSMError } from "@densessm/core";
import { TokenizerFormatError } from "@densessm/tokenizer";
import { forward, formatForward } from "./commands/forward.js";
import { registerAnalyze } from "./commands/analyze.js";
import { registerBench } from "./commands/bench.js";
import { registerCompare } from "./commands/compare.js";
import { registerConvert } from "./commands/convert.js";
import { registerEval } from "./commands/eval.js";
import { registerExport } from "./commands/export.js";
import { registerGenerate } from "./commands/generate.js";
import { registerQuantize } from "./commands/quantize.js";
import { registerServe } from "./commands/serve.js";
import { registerStudy } from "./commands/study.js";
import { registerTokenize } from "./commands/tokenize.js";
import { registerTrain } from "./commands/train.js";
import { CliError } from "./errors.js";
import { recordInvocation } from "./invocation.js";
import "./backends.js";

const print = (json: boolean, value: unknown, human: () => string) => console.log(json ? JSON.stringify(value) : human());

/** The `densessm` program. Subcommands come with their packages. */
export function createProgram(): Command {
  const program = new Command("densessm")
    .description("Train, run and ship DenseSSM language models (DenseRetNet, DenseMamba) from the command line.")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();

  program
    .command("forward")
    .description("Run a checkpoint on rows of token ids and write the logits as JSON.")
    .requiredOption("--model <dir>", "model folder (config.json + model.safetensors)")
    .requiredOption("--ids <file>", "JSON array of equal-length token-id rows")
    .addOption(new Option("--mode <mode>", "how to run the sequence").choices(["parallel", "recurrent", "chunkwise"]).default("parallel"))
    .option("--backend <name>", "backend to run on (default: best available)")
    .option("--out <file>", "write {\"logits\": [batch][position][vocab]} here")
    .option("--reference <file>", "JSON with reference logits to report the max abs error against")
    .option("--allow-nonfinite", "load weights holding NaN/Inf instead of refusing them")
    .option("--json", "print a machine-readable summary")
    .action(async (opts: { model: string; ids: string; mode: "parallel" | "recurrent" | "chunkwise"; backend?: string; out?: string; reference?: string; allowNonfinite?: boolean; json?: boolean }) => {
      const result = await forward({ ...opts, allowNonFinite: opts.allowNonfinite });
      print(Boolean(opts.json), result, () => formatForward(result));
    });

  registerTrain(program);
  registerGenerate(program);
  registerEval(program);
  registerCompare(program);
  registerStudy(program);
  registerAnalyze(program);
  registerBench(program);
  registerExport(program);
  registerConvert(program);
  registerQuantize(program);
  registerTokenize(program);
  registerServe(program);
  return program;
}

/** Runs the CLI; bad input ends in one line naming the problem and exit code 1. */
export async function main(argv: readonly string[]): Promise<number> {
  try {
    recordInvocation(argv);
    await createProgram().parseAsync(argv as string[]);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode; // commander already printed the message
    if (e instanceof CliError || e instanceof DenseSSMError || e instanceof TokenizerFormatError) {
      console.error(`densessm: ${e.message.split("\n").join("\n  ")}`);
      return 1;
    }
    throw e;
  }
}
