import type { Command } from "commander";
import { Option } from "commander";
import { exportOnnx } from "@densessm/backend-onnx";
import { resolveModelDir } from "@densessm/lm";
import { positiveInt } from "../options.js";

export function registerExport(program: Command): void {
  program
    .command("export")
    .description("Export a model for deployment: a prefill model and a decode-step model with past_*/present_* state (transformers.js naming), plus config and tokenizer.")
    .requiredOption("--model <dir>", "model folder or training run folder")
    .addOption(new Option("--format <format>", "export format").choices(["onnx"]).default("onnx"))
    .requiredOption("--out <dir>", "output folder")
    .option("--prefill-length <n>", "prompt length of the prefill model (shapes are static)", positiveInt, 16)
    .option("--json", "print the result as JSON")
    .action(async (flags: { model: string; out: string; prefillLength: number; json?: boolean }) => {
      const r = await exportOnnx({ modelDir: await resolveModelDir(flags.model), outDir: flags.out, prefillLength: flags.prefillLength });
      if (flags.json) return console.log(JSON.stringify(r));
      console.log(
        [
          `exported ${r.family} to ${flags.out}: ${r.files.join(", ")}`,
          `state per layer: ${r.states.map((s) => `${s.past} [${s.shape.join(", ")}]`).slice(0, 2).join(", ")}${r.states.length > 2 ? ", ..." : ""}${r.positionIds ? " (plus position_ids)" : ""}`,
        ].join("\n"),
      );
    });
}
