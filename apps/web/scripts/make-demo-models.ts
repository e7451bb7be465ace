// Writes the demo's bundled model folders (public/models/*): the repo's official tiny checkpoints
// (config.json + model.safetensors, copied byte for byte from models/) plus a tokenizer.json each.
// The checkpoints ship without a tokenizer and their vocabularies (97, 101) are smaller than any
// tokenizer our BPE trainer can produce (≥ 256 byte tokens + specials), so each gets a character
// tokenizer: <unk>, <s>, </s>, newline, then printable ASCII from the space on, as many as fit.
// The weights are the official test checkpoints, not trained on text: the demo shows the real
// pipeline at real numerics, and the text it prints is noise.
//
//   node --conditions=@densessm/source --import tsx apps/web/scripts/make-demo-models.ts
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Tokenizer } from "@densessm/tokenizer";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const out = join(root, "apps", "web", "public", "models");
const SPECIALS = ["<unk>", "<s>", "</s>"];

/** A character-level BPE tokenizer.json (no merges) with at most `vocabSize` tokens. */
function characterTokenizer(vocabSize: number): Record<string, unknown> {
  const printable = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i));
  const tokens = [...SPECIALS, "\n", ...printable].slice(0, vocabSize);
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: SPECIALS.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: null,
    model: { type: "BPE", dropout: null, unk_token: "<unk>", continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: false, vocab: Object.fromEntries(tokens.map((t, id) => [t, id])), merges: [] },
  };
}

for (const name of ["dense-gau-retnet-tiny", "mamba-tiny"]) {
  const from = join(root, "models", name);
  const to = join(out, name);
  await mkdir(to, { recursive: true });
  await copyFile(join(from, "config.json"), join(to, "config.json"));
  await copyFile(join(from, "model.safetensors"), join(to, "model.safetensors"));
  const config = JSON.parse(await readFile(join(from, "config.json"), "utf8")) as { vocab_size: number };
  const json = characterTokenizer(config.vocab_size);
  // Check it round-trips through our tokenizer before shipping it.
  const tokenizer = Tokenizer.fromJSON(JSON.stringify(json));
  const sample = "ROMEO: But soft!\nWhat light";
  if (tokenizer.decode(tokenizer.encode(sample, { addSpecialTokens: false })) !== sample) throw new Error(`${name}: the character tokenizer does not round-trip`);
  await writeFile(join(to, "tokenizer.json"), `${JSON.stringify(json, null, 1)}\n`);
  await writeFile(join(to, "tokenizer_config.json"), `${JSON.stringify({ bos_token: "<s>", eos_token: "</s>", unk_token: "<unk>", add_bos_token: true, add_eos_token: false }, null, 1)}\n`);
  console.log(`${to}: ${tokenizer.vocabSize} tokens for a vocabulary of ${config.vocab_size}`);
}
