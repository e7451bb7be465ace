import type { Command } from "commander";
import { Option } from "commander";
import { GROUP_SIZES } from "@densessm/core";
import { quantizeModel, type QuantizeModelReport } from "@densessm/lm";
import { collect } from "../options.js";

interface QuantizeFlags {
  model: string;
  bits: "8" | "4";
  group: string;
  keep?: string[];
  out: string;
  json?: boolean;
}

export function registerQuantize(program: Command): void {
  program
    .command("quantize")
    .description("Quantize a model's Linear and Embedding weights (lm_head included) to int8 per output channel or 4-bit groups, round to nearest, no calibration data; writes a self-describing folder every backend loads.")
    .requiredOption("--model <dir>", "float model folder or training run folder")
    .addOption(new Option("--bits <n>", "bits per weight").choices(["8", "4"]).makeOptionMandatory())
    .addOption(new Option("--group <n>", "columns per scale for 4 bits").choices(GROUP_SIZES.map(String)).default("64"))
    .option("--keep <module>", "keep this Linear/Embedding in float (state_dict prefix, e.g. lm_head; repeatable)", collect)
    .requiredOption("--out <dir>", "output folder")
    .option("--json", "print the report as JSON")
    .action(async (flags: QuantizeFlags) => {
      const keep = new Set(flags.keep ?? []);
      const report = await quantizeModel({ model: flags.model, out: flags.out, bits: Number(flags.bits) as 8 | 4, groupSize: Number(flags.group), keep: (name) => keep.has(name) });
      const unknown = [...keep].filter((name) => !report.config.keep.includes(name));
      if (unknown.length) console.error(`densessm: warning: --keep ${unknown.join(", ")}: no such Linear or Embedding in this model (nothing kept for it)`);
      console.log(flags.json ? JSON.stringify(report) : describe(report));
    });
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(2)} MB`;

function describe(r: QuantizeModelReport): string {
  const format = r.config.bits === 8 ? "int8, one scale per output channel" : `4-bit, groups of ${r.config.groupSize} (onnxruntime MatMulNBits layout)`;
  return [
    `quantized ${r.family} (${(r.parameters / 1e6).toFixed(2)} M parameters) to ${format}: ${r.out}`,
    `weights: ${mb(r.bytesBefore)} -> ${mb(r.bytesAfter)} (${(r.bytesBefore / r.bytesAfter).toFixed(2)}x smaller)`,
    `${r.quantized.length} Linear/Embedding weights quantized${r.config.keep.length ? `; kept in float: ${r.config.keep.join(", ")}` : ""}`,
  ].join("\n");
}
