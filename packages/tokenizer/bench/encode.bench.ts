// Encode throughput on the head of wikitext-2's test split (its first 2000 lines) with the LLaMA
// tokenizer: ours vs the two JavaScript peers, @huggingface/tokenizers (tokenizers.js) and
// llama-tokenizer-js. Each line of the file is
// encoded separately (as `densessm tokenize` does with JSONL records), without BOS, and every
// tokenizer's ids must equal ours on every line before any number is printed.
//
//   pnpm --filter @densessm/tokenizer bench        (or `pnpm bench` at the root)
import { readFileSync } from "node:fs";
import { arch, cpus, loadavg } from "node:os";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import llamaTokenizerJs from "llama-tokenizer-js";
import { fromPretrained } from "@densessm/tokenizer";

// The tests' copies: LLaMA's tokenizer files and the head of wikitext-2's test split.
const fixtures = resolve(dirname(fileURLToPath(import.meta.url)), "../test/fixtures");
const textPath = resolve(fixtures, "wikitext-2-test-head.txt");
const llamaDir = resolve(fixtures, "llama");

const PASSES = Number(process.env["BENCH_PASSES"] ?? 3);
const lines = readFileSync(textPath, "utf8")
  .split("\n")
  .filter((l) => l.length > 0);
const megabytes = lines.reduce((n, l) => n + Buffer.byteLength(l), 0) / 1e6;

type Encode = (text: string) => number[];

interface Contender {
  name: string;
  load: () => Promise<Encode>;
}

const contenders: Contender[] = [
  {
    name: "@densessm/tokenizer",
    load: async () => {
      const tok = await fromPretrained(llamaDir);
      return (text) => tok.encode(text, { addSpecialTokens: false });
    },
  },
  {
    name: "@huggingface/tokenizers",
    load: async () => {
      const json = JSON.parse(readFileSync(resolve(llamaDir, "tokenizer.json"), "utf8")) as Record<string, unknown>;
      const config = JSON.parse(readFileSync(resolve(llamaDir, "tokenizer_config.json"), "utf8")) as Record<string, unknown>;
      // tokenizers.js always matches added tokens in the text, and wikitext is full of the literal
      // string "<unk>". Without the added-tokens list it encodes "<unk>" as text, like sentencepiece.
      const hf = new HfTokenizer({ ...json, added_tokens: [] } as never, config);
      return (text) => hf.encode(text, { add_special_tokens: false }).ids;
    },
  },
  {
    name: "llama-tokenizer-js",
    // Ships LLaMA's 32k vocabulary and merges built in (the same tokenizer as test/fixtures/llama).
    load: async () => (text) => llamaTokenizerJs.encode(text, false, true),
  },
];

interface Row {
  name: string;
  loadMs: number;
  firstPass: number;
  median: number;
}

function pass(encode: Encode): { seconds: number; ids: number[][] } {
  const ids: number[][] = new Array<number[]>(lines.length);
  const start = performance.now();
  for (let i = 0; i < lines.length; i++) ids[i] = encode(lines[i] as string);
  return { seconds: (performance.now() - start) / 1000, ids };
}

let reference: number[][] | undefined;
const rows: Row[] = [];
for (const c of contenders) {
  const t0 = performance.now();
  const encode = await c.load();
  const loadMs = performance.now() - t0;
  const speeds: number[] = [];
  for (let p = 0; p < PASSES; p++) {
    const { seconds, ids } = pass(encode);
    speeds.push(megabytes / seconds);
    if (p === 0) {
      if (reference === undefined) reference = ids;
      else {
        const bad = ids.findIndex((row, i) => JSON.stringify(row) !== JSON.stringify(reference?.[i]));
        if (bad >= 0) throw new Error(`${c.name} disagrees with @densessm/tokenizer on line ${bad}: ${JSON.stringify(lines[bad]?.slice(0, 80))}`);
      }
    }
    process.stderr.write(`${c.name}: pass ${p + 1}/${PASSES} ${(megabytes / seconds).toFixed(2)} MB/s\n`);
  }
  const sorted = [...speeds].sort((a, b) => a - b);
  rows.push({ name: c.name, loadMs, firstPass: speeds[0] as number, median: sorted[Math.floor(sorted.length / 2)] as number });
}

const ours = rows[0] as Row;
const peers = rows.slice(1);
const fastest = peers.reduce((a, b) => (b.median > a.median ? b : a));
const fastestFirst = peers.reduce((a, b) => (b.firstPass > a.firstPass ? b : a));
const cpu = cpus()[0]?.model ?? "unknown CPU";
console.log(`\nLLaMA tokenizer, wikitext-2 test split (first 2000 lines): ${lines.length} non-empty lines, ${megabytes.toFixed(2)} MB, encoded line by line without BOS; ids identical across all three.`);
const load = loadavg()[0]?.toFixed(1) ?? "?";
console.log(`Machine: ${cpus().length}-core ${arch()} (${cpu}), Node ${process.versions.node}, load average ${load} at the end; median of ${PASSES} passes.\n`);
console.log("| tokenizer | load (ms) | first pass (MB/s) | median pass (MB/s) | vs ours |");
console.log("| --- | ---: | ---: | ---: | ---: |");
for (const r of rows) {
  const vs = r === ours ? "1.00×" : `${(ours.median / r.median).toFixed(1)}× slower`;
  console.log(`| ${r.name} | ${r.loadMs.toFixed(0)} | ${r.firstPass.toFixed(2)} | ${r.median.toFixed(2)} | ${vs} |`);
}
console.log(`\nOurs vs the faster peer (${fastest.name}): ${(ours.median / fastest.median).toFixed(1)}× (median pass); ${(ours.firstPass / fastestFirst.firstPass).toFixed(1)}× on the first, cold-cache pass.`);
