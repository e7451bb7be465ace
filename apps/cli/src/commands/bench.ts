import { Option, type Command } from "commander";
import { benchmark } from "@densessm/lm";
import { positiveInt } from "../options.js";

export function registerBench(program: Command): void {
  program
    .command("bench")
    .description("Training and decoding throughput (tokens/s) and memory of a model on a backend.")
    .option("--model <preset|config.json|dir>", "what to measure (presets and configs get random weights)", "dense-retnet-tiny")
    .option("--backend <name>", "backend (default: best available)")
    .addOption(new Option("--dtype <dtype>", "matrix products: f32 (default), or bf16 (mixed precision: bfloat16 inputs, f32 accumulation and master weights; cuda)").choices(["f32", "bf16"]))
    .option("--batch-size <n>", "batch size", positiveInt, 8)
    .option("--seq-len <n>", "training sequence length and decoding prefill", positiveInt, 128)
    .option("--steps <n>", "timed training steps", positiveInt, 5)
    .option("--decode-tokens <n>", "timed decoding steps", positiveInt, 32)
    .option("--json", "print the report as JSON")
    .action(async (flags: { model: string; backend?: string; dtype?: "f32" | "bf16"; batchSize: number; seqLen: number; steps: number; decodeTokens: number; json?: boolean }) => {
      const r = await benchmark(flags);
      if (flags.json) return console.log(JSON.stringify(r));
      const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
      console.log(
        [
          `${r.model} (${r.family}, ${r.parameters.toLocaleString("en")} parameters) on ${r.backend} (${r.dtype}), batch ${r.batchSize}, length ${r.seqLen}`,
          `training: ${Math.round(r.trainTokensPerSecond).toLocaleString("en")} tokens/s`,
          `decoding: ${r.decodeTokensPerSecond.toFixed(1)} tokens/s (${r.batchSize} sequences)`,
          `memory:   backend peak ${mb(r.peakBackendBytes)}, process RSS ${mb(r.residentBytes)}`,
        ].join("\n"),
      );
    });
}
