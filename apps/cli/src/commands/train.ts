import type { Command } from "commander";
import { Option } from "commander";
import { listPresets } from "@densessm/core";
import { LanguageModel, train, type TrainOptions, type TrainResult } from "@densessm/lm";
import { DEFAULT_CORPUS } from "../assets.js";
import { collect, seed, fraction, nonNegativeInt, nonNegativeNumber, positiveInt, positiveNumber } from "../options.js";
import { progressPrinter } from "../progress.js";

interface TrainFlags {
  model: string;
  data?: string[];
  tokenizer?: string;
  vocabSize: number;
  out: string;
  resume?: string;
  batchSize: number;
  seqLen: number;
  steps?: number;
  tokens?: number;
  lr: number;
  warmup?: number;
  schedule: TrainOptions["schedule"];
  minLr?: number;
  weightDecay: number;
  clip: number;
  gradAccum: number;
  seed: number;
  backend?: string;
  dtype?: "f32" | "bf16";
  deterministic?: boolean;
  evalEvery?: number;
  evalBatches: number;
  checkpointEvery?: number;
  keep: number;
  validation: number;
  timeLimit: number;
  samplePrompt: string;
  sampleTokens: number;
  json?: boolean;
}

export function registerTrain(program: Command): void {
  program
    .command("train")
    .description("Train a model on text, with resumable checkpoints; ends with a generated sample and the validation perplexity.\nWith no flags: a 3.3M-parameter DenseRetNet on the bundled tinyshakespeare, about 6 minutes on 2 CPU cores.")
    .option("--model <preset|config.json>", `model preset (${listPresets().map((p) => p.name).join(", ")}) or a config.json`, "dense-retnet-small")
    .option("--data <path>", "text file or folder (repeatable; default: the bundled tinyshakespeare)", collect)
    .option("--tokenizer <file|dir>", "tokenizer to use (default: train one on the data)")
    .option("--vocab-size <n>", "vocabulary of the tokenizer trained on the fly", positiveInt, 1024)
    .option("--out <dir>", "run folder for checkpoints and the loss curve", "runs/default")
    .option("--resume <dir>", "continue the run in this folder from its latest checkpoint")
    .option("--batch-size <n>", "sequences per micro-batch", positiveInt, 8)
    .option("--seq-len <n>", "tokens per sequence", positiveInt, 256)
    .option("--steps <n>", "optimizer steps (default 500)", positiveInt)
    .option("--tokens <n>", "token budget instead of --steps", positiveInt)
    .option("--lr <x>", "peak learning rate", positiveNumber, 2e-3)
    .option("--warmup <n>", "warmup steps (default 5% of the steps)", nonNegativeInt)
    .addOption(new Option("--schedule <kind>", "decay after warmup").choices(["cosine", "linear", "polynomial", "constant"]).default("cosine"))
    .option("--min-lr <x>", "final learning rate (default lr / 10)", nonNegativeNumber)
    .option("--weight-decay <x>", "AdamW decoupled weight decay", nonNegativeNumber, 0.1)
    .option("--clip <x>", "gradient-norm clip (0 disables)", nonNegativeNumber, 1)
    .option("--grad-accum <n>", "micro-batches per step", positiveInt, 1)
    .option("--seed <n>", "seed for initialisation, data order and sampling (0 to 4294967295)", seed, 0)
    .option("--backend <name>", "backend (default: best available)")
    .addOption(new Option("--dtype <dtype>", "matrix products: f32 (default), or bf16 (mixed precision: bfloat16 inputs, f32 accumulation and master weights; cuda)").choices(["f32", "bf16"]))
    .option("--deterministic", "the same losses on every run of the same seed, resumed or not (onnx: one thread, slower; cpu always is)")
    .option("--eval-every <n>", "steps between validation passes (default: 10 per run)", positiveInt)
    .option("--eval-batches <n>", "validation batches per pass", positiveInt, 8)
    .option("--checkpoint-every <n>", "steps between checkpoints (default: 5 per run)", positiveInt)
    .option("--keep <n>", "checkpoints to keep", positiveInt, 2)
    .option("--validation <fraction>", "held-out tail of the data", fraction, 0.05)
    .option("--time-limit <minutes>", "stop (with a checkpoint) after this long; 0 for none", nonNegativeNumber, 9)
    .option("--sample-prompt <text>", "prompt of the sample printed at the end", "ROMEO:")
    .option("--sample-tokens <n>", "tokens in that sample (0 for none)", nonNegativeInt, 120)
    .option("--json", "print one JSON summary instead of progress and text")
    .action(async (flags: TrainFlags, command: Command) => {
      // A resumed run takes only what was typed: defaults must not look like requested changes.
      const resume = flags.resume !== undefined;
      const given = <K extends keyof TrainFlags>(key: K): TrainFlags[K] | undefined => (!resume || command.getOptionValueSource(key) === "cli" ? flags[key] : undefined);
      const result = await train({
        model: given("model") ?? "",
        data: flags.data ?? (resume ? [] : [DEFAULT_CORPUS]),
        tokenizer: flags.tokenizer,
        vocabSize: given("vocabSize"),
        out: flags.resume ?? flags.out,
        resume,
        batchSize: given("batchSize"),
        seqLen: given("seqLen"),
        steps: flags.steps ?? (flags.tokens || resume ? undefined : 500),
        tokens: flags.tokens,
        lr: given("lr"),
        warmupSteps: flags.warmup,
        schedule: given("schedule"),
        minLr: flags.minLr,
        weightDecay: given("weightDecay"),
        clip: given("clip"),
        gradAccum: given("gradAccum"),
        seed: given("seed"),
        backend: flags.backend,
        dtype: flags.dtype,
        deterministic: flags.deterministic,
        evalEvery: flags.evalEvery,
        evalBatches: given("evalBatches"),
        checkpointEvery: flags.checkpointEvery,
        keepCheckpoints: given("keep"),
        validationFraction: given("validation"),
        timeLimitSeconds: flags.timeLimit > 0 ? flags.timeLimit * 60 : undefined,
        onProgress: flags.json ? undefined : progressPrinter(),
      });
      const sample = flags.sampleTokens > 0 ? await sampleText(result, flags) : "";
      if (flags.json) console.log(JSON.stringify(summary(result, sample)));
      else console.log(report(result, flags.samplePrompt, sample));
    });
}

async function sampleText(result: TrainResult, flags: TrainFlags): Promise<string> {
  const model = new LanguageModel(result.lm, result.tokenizer, result.session);
  return model.complete(flags.samplePrompt, { maxNewTokens: flags.sampleTokens, temperature: 0.8, topK: 40, seed: flags.seed });
}

function summary(r: TrainResult, sample: string) {
  return { runDir: r.runDir, checkpoint: r.checkpoint, steps: r.steps, stoppedEarly: r.stoppedEarly, parameters: r.parameters, finalTrainLoss: r.history.at(-1)?.loss, validation: r.validation, sample };
}

function report(r: TrainResult, prompt: string, sample: string): string {
  return [
    "",
    r.stoppedEarly ? `stopped at the time limit after ${r.steps} steps` : `trained ${r.steps} steps`,
    `checkpoint: ${r.checkpoint} (loss curve: ${r.runDir}/loss.svg)`,
    ...(sample ? ["", "sample:", `${prompt}${sample}`, ""] : []),
    `validation loss ${r.validation.loss.toFixed(4)} nats/token, perplexity ${r.validation.perplexity.toFixed(2)} (token-level, ${r.tokenizer.vocabSize}-token vocabulary)`,
  ].join("\n");
}
