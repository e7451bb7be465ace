import type { Command } from "commander";
import { compare } from "@densessm/lm";
import { DEFAULT_CORPUS } from "../assets.js";
import { CliError } from "../errors.js";
import { collect, positiveInt, positiveNumber, seed } from "../options.js";

interface CompareFlags {
  model: string[];
  data?: string[];
  seeds: number[];
  steps: number;
  batchSize: number;
  seqLen: number;
  lr: number;
  vocabSize: number;
  tokenizer?: string;
  backend?: string;
  evalEvery?: number;
  out: string;
  json?: boolean;
}

export function registerCompare(program: Command): void {
  program
    .command("compare")
    .description("Train two or more models on the same data, tokens and seeds; write a table and one plot of their validation curves.")
    .requiredOption("--model <preset|config.json>", "a model to compare (repeat: at least two)", collect)
    .option("--data <path>", "text file or folder (repeatable; default: the bundled tinyshakespeare)", collect)
    .option("--seeds <list>", "comma-separated seeds", (v: string) => v.split(",").map((s) => seed(s.trim())), [0, 1, 2])
    .option("--steps <n>", "optimizer steps per run", positiveInt, 300)
    .option("--batch-size <n>", "sequences per batch", positiveInt, 8)
    .option("--seq-len <n>", "tokens per sequence", positiveInt, 128)
    .option("--lr <x>", "peak learning rate", positiveNumber, 3e-3)
    .option("--vocab-size <n>", "vocabulary of the shared tokenizer trained on the data", positiveInt, 1024)
    .option("--tokenizer <file|dir>", "use this tokenizer for every run instead")
    .option("--eval-every <n>", "steps between validation passes", positiveInt)
    .option("--backend <name>", "backend (default: best available)")
    .option("--out <dir>", "output folder (runs, compare.md, compare.svg, compare.json)", "runs/compare")
    .option("--json", "print the result as JSON")
    .action(async (flags: CompareFlags) => {
      if (flags.model.length < 2) throw new CliError("compare: give --model at least twice");
      const result = await compare({
        models: flags.model,
        data: flags.data ?? [DEFAULT_CORPUS],
        seeds: flags.seeds,
        steps: flags.steps,
        batchSize: flags.batchSize,
        seqLen: flags.seqLen,
        lr: flags.lr,
        vocabSize: flags.vocabSize,
        tokenizer: flags.tokenizer,
        evalEvery: flags.evalEvery,
        backend: flags.backend,
        timeLimitSeconds: undefined,
        out: flags.out,
        onProgress: flags.json ? undefined : ({ model, seed, event }) => {
          if (event.type === "eval") console.error(`${model} seed ${seed}: step ${event.step} validation loss ${event.loss.toFixed(4)}`);
        },
      });
      if (flags.json) return console.log(JSON.stringify(result));
      const { readFile } = await import("node:fs/promises");
      console.log(await readFile(result.files.table, "utf8"));
      console.log(`plot: ${result.files.plot}\ndata: ${result.files.json}`);
    });
}
