import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { LATEST, resolveModelDir } from "@densessm/lm";
import { loadTokenizer, tokenizeJsonl, trainAndSaveTokenizer } from "@densessm/tokenizer";
import { positiveInt } from "../options.js";
import { Option } from "commander";

export function registerTokenize(program: Command): void {
  program
    .command("tokenize")
    .description('Encode JSONL lines {"text": ...} into {"ids": [...]} in the same order.')
    .requiredOption("--tokenizer <file|dir>", "tokenizer.json, tokenizer.model, a folder with them, or a training run folder")
    .requiredOption("--in <file>", "input JSONL")
    .requiredOption("--out <file>", "output JSONL")
    .option("--no-special", "no BOS/EOS (sentencepiece's plain encode)")
    .action(async (flags: { tokenizer: string; in: string; out: string; special: boolean }) => {
      // A training run folder stands for its latest checkpoint, as it does for generate.
      const tokenizer = await loadTokenizer(existsSync(join(flags.tokenizer, LATEST)) ? await resolveModelDir(flags.tokenizer) : flags.tokenizer);
      const r = await tokenizeJsonl({ tokenizer, input: flags.in, output: flags.out, addSpecialTokens: flags.special });
      console.error(`tokenized ${JSON.stringify(r)}`);
    });

  program
    .command("tokenizer")
    .description("Tokenizer tools.")
    .command("train")
    .description("Learn a BPE vocabulary from a text corpus and save it as tokenizer.json (+ configs).")
    .requiredOption("--corpus <file>", "text file")
    .requiredOption("--vocab-size <n>", "vocabulary size", positiveInt)
    .requiredOption("--out <dir>", "output folder")
    .addOption(new Option("--kind <kind>", "SentencePiece-style BPE with byte fallback, or byte-level BPE").choices(["sentencepiece", "byte-level"]).default("sentencepiece"))
    .action(async (flags: { corpus: string; vocabSize: number; out: string; kind: "sentencepiece" | "byte-level" }) => {
      const { tokenizer, files } = await trainAndSaveTokenizer({ corpus: flags.corpus, vocabSize: flags.vocabSize, kind: flags.kind, out: flags.out });
      console.log(`trained a ${tokenizer.vocabSize}-token ${flags.kind} tokenizer: ${files.join(", ")}`);
    });
}
