import type { Command } from "commander";
import { Option } from "commander";
import { convertModel } from "@densessm/lm";
import { positiveNumber } from "../options.js";

const DTYPES = { f32: "float32", f16: "float16", bf16: "bfloat16" } as const;

export function registerConvert(program: Command): void {
  program
    .command("convert")
    .description("Rewrite a checkpoint (safetensors, pytorch_model.bin, sharded, a run, a hub model) as a clean Hugging Face folder: config.json, model.safetensors (sharded when large), tokenizer files.")
    .requiredOption("--model <dir|org/name>", "model folder, training run, URL or hub model name")
    .requiredOption("--out <dir>", "output folder")
    .addOption(new Option("--dtype <dtype>", "weight dtype of the output").choices(Object.keys(DTYPES)).default("f32"))
    .option("--max-shard-size <GiB>", "shard the weights above this size", positiveNumber, 2)
    .option("--allow-nonfinite", "convert weights holding NaN/Inf instead of refusing them")
    .option("--json", "print the result as JSON")
    .action(async (flags: { model: string; out: string; dtype: keyof typeof DTYPES; maxShardSize: number; allowNonfinite?: boolean; json?: boolean }) => {
      const r = await convertModel(flags.model, flags.out, { dtype: DTYPES[flags.dtype], maxShardBytes: Math.floor(flags.maxShardSize * 1024 ** 3), allowNonFinite: flags.allowNonfinite });
      if (flags.json) return console.log(JSON.stringify(r));
      console.log(`converted ${r.family} (${r.parameters.toLocaleString("en")} parameters, ${r.dtype}) to ${flags.out}: ${r.files.join(", ")}`);
    });
}
