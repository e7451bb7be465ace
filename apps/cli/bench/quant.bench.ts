/**
 * `pnpm bench` (from this package, or the root's `pnpm bench`): quantized weights, speed and quality.
 *
 * Speed: batch-1 greedy decoding of the DenseRetNet-350M shape (hidden 1536, 16 layers, vocab
 * 32000; random weights) in float32, int8 and 4-bit (groups of 64), on backend-onnx and backend-cpu,
 * each against the float32 decode on the same backend in this run. Targets: int8 >= 2.2x and
 * 4-bit >= 3.8x float32. Also printed: the weight bytes one token reads (every weight once; the
 * embedding one row) and the bandwidth that implies.
 *
 * Quality: held-out perplexity of the trained default (models/tinyshakespeare-dense-retnet) in
 * float32, int8 and 4-bit on both backends (targets: +1 % and +4 %), and the logit error of the
 * quantized official tiny fixtures against the official logits.
 *
 *   pnpm bench                    # everything (about 10 minutes on 2 cores)
 *   pnpm bench -- --quick         # fewer decode tokens and held-out tokens
 *   pnpm bench -- --no-decode     # quality only
 */
import { readFile } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { CpuBackend } from "@densessm/backend-cpu";
import { loadNodeRuntime, OnnxBackend } from "@densessm/backend-onnx";
import { CausalLM, Embedding, folderSource, quantizableModules, Session, type Backend, type QuantizeOptions } from "@densessm/core";
import { evaluatePerplexity, splitTokens } from "@densessm/lm";
import { tokenizerFromFiles } from "@densessm/tokenizer";
import { DEFAULT_CORPUS } from "../src/assets.js";

const args = new Set(process.argv.slice(2));
const quick = args.has("--quick");
const root = join(import.meta.dirname, "..", "..", "..");

const onnx = new OnnxBackend(await loadNodeRuntime());
const cpus = os.cpus();
console.log(`machine: ${cpus.length} x ${cpus[0]?.model ?? "unknown CPU"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}, ${onnx.runtime.label}`);

type Format = { name: string; options?: QuantizeOptions; target?: number };
const FORMATS: Format[] = [
  { name: "float32" },
  { name: "int8", options: { bits: 8 }, target: 2.2 },
  { name: "4-bit g64", options: { bits: 4, groupSize: 64 }, target: 3.8 },
];

/** Weight bytes one decoding step reads on a backend: every parameter once, an embedding only its row. */
function bytesPerToken(lm: CausalLM): number {
  const embeddings = new Set(quantizableModules(lm.module).filter(([, m]) => m instanceof Embedding).flatMap(([, m]) => [m.weight, m.weight_scale]));
  const readByOthers = new Set(quantizableModules(lm.module).filter(([, m]) => !(m instanceof Embedding)).flatMap(([, m]) => [m.weight, m.weight_scale]));
  let bytes = 0;
  for (const p of lm.module.parameters()) {
    // Scales and float weights reach the kernels as float32; codes as stored.
    const size = p.value.dtype === "int8" || p.value.dtype === "uint8" ? p.value.size : 4 * p.value.size;
    bytes += embeddings.has(p) && !readByOthers.has(p) ? size / p.shape[0]! : size;
  }
  return bytes;
}

/** Median tokens/s of greedy batch-1 decoding, after a first step that compiles and uploads. */
async function decodeRate(backend: Backend, lm: CausalLM, tokens: number): Promise<number> {
  const session = new Session(backend);
  const decoder = await lm.startDecoding(session, [[1]]);
  const draw = { uniforms: new Float32Array(1) };
  let token = (await decoder.step([1], draw))[0]!;
  const times: number[] = [];
  for (let t = 0; t < tokens; t++) {
    const start = performance.now();
    token = (await decoder.step([token], draw))[0]!;
    times.push(performance.now() - start);
  }
  decoder.dispose();
  session.dispose();
  times.sort((a, b) => a - b);
  return 1000 / times[times.length >> 1]!;
}

if (!args.has("--no-decode")) {
  const config = {
    model_type: "llama", hidden_size: 1536, query_key_dim: 768, num_attention_heads: 2, num_hidden_layers: 16,
    v_factor: 2, dense_block_layers: 2, vocab_size: 32000, rms_norm_eps: 1e-6, tie_word_embeddings: false,
  };
  console.log("\ndecode: DenseRetNet-350M shape (hidden 1536, 16 layers, vocab 32000), random weights, batch 1, greedy; median step");
  const backends = [["onnx", onnx, quick ? 5 : 20], ["cpu", new CpuBackend(), quick ? 2 : 5]] as const;
  const rows = new Map<string, string[]>(backends.map(([name]) => [name, []]));
  const base = new Map<string, number>();
  for (const format of FORMATS) {
    const lm = CausalLM.fromConfig(config, { seed: 3 });
    if (format.options) lm.quantize(format.options);
    const bytes = bytesPerToken(lm);
    for (const [name, backend, tokens] of backends) {
      const steps = format.options || name !== "cpu" ? tokens : 2; // backend-cpu's float32 decode takes seconds a token
      const rate = await decodeRate(backend, lm, steps);
      if (!format.options) base.set(name, rate);
      const ratio = rate / base.get(name)!;
      const verdict = format.target === undefined ? "" : `${format.target}x: ${ratio >= format.target ? "met" : "missed"}`;
      rows.get(name)!.push(`| ${name} | ${format.name} | ${rate.toFixed(2)} | ${ratio.toFixed(2)}x | ${verdict} | ${(bytes / 1e6).toFixed(0)} MB | ${((bytes * rate) / 1e9).toFixed(1)} |`);
    }
  }
  console.log("| backend | weights | tokens/s | vs float32 | target | bytes/token | implied GB/s |");
  console.log("| --- | --- | ---: | ---: | --- | ---: | ---: |");
  for (const lines of rows.values()) for (const line of lines) console.log(line);
}

// ---- quality ----

const trained = join(root, "models", "tinyshakespeare-dense-retnet");
const tokenizer = await tokenizerFromFiles(folderSource(trained));
const all = Int32Array.from(tokenizer.encode(await readFile(DEFAULT_CORPUS, "utf8"), { addSpecialTokens: false }));
const heldOut = splitTokens(all, 0.05, 256).validation.subarray(0, quick ? 2048 : 8192);
console.log(`\nquality: the trained default (${trained.replace(`${root}/`, "")}), perplexity on ${heldOut.length.toLocaleString("en")} held-out tokens (windows of 256)`);
console.log("| backend | weights | perplexity | change | target |");
console.log("| --- | --- | ---: | ---: | --- |");
for (const [name, backend] of [["onnx", onnx], ["cpu", new CpuBackend()]] as const) {
  let base = 0;
  for (const format of FORMATS) {
    const lm = await CausalLM.fromPretrained(trained);
    if (format.options) lm.quantize(format.options);
    const session = new Session(backend);
    const ppl = (await evaluatePerplexity(lm, session, heldOut, { bytes: 1, words: 1 }, { window: 256 })).tokenPerplexity;
    session.dispose();
    if (!format.options) base = ppl;
    const change = ppl / base - 1;
    const limit = format.options ? (format.options.bits === 8 ? 0.01 : 0.04) : undefined;
    console.log(`| ${name} | ${format.name} | ${ppl.toFixed(3)} | ${format.options ? `${(100 * change).toFixed(2)} %` : ""} | ${limit === undefined ? "" : `+${100 * limit} %: ${change <= limit ? "met" : "missed"}`} |`);
  }
}

console.log("\nquality: official tiny fixtures, logits of the quantized model against the official float32 logits (parallel form)");
console.log("| fixture | weights | backend | max abs error | rms error / rms logit | same top token |");
console.log("| --- | --- | --- | ---: | ---: | ---: |");
for (const fixture of ["dense-gau-retnet-tiny", "mamba-tiny"]) {
  const dir = join(root, "models", fixture);
  const c = JSON.parse(await readFile(join(dir, "case.json"), "utf8")) as { input_ids: number[][]; logits_parallel: number[][][] };
  const official = c.logits_parallel.flat(2);
  const vocab = c.logits_parallel[0]![0]!.length;
  for (const format of FORMATS.filter((f) => f.options)) {
    for (const [name, backend] of [["cpu", new CpuBackend()], ["onnx", onnx]] as const) {
      const lm = await CausalLM.fromPretrained(dir);
      lm.quantize(format.options!);
      const logits = (await lm.logits(new Session(backend), c.input_ids, "parallel")).toFloat32();
      let max = 0, se = 0, sr = 0, same = 0;
      for (let i = 0; i < logits.length; i++) {
        max = Math.max(max, Math.abs(logits[i]! - official[i]!));
        se += (logits[i]! - official[i]!) ** 2;
        sr += official[i]! ** 2;
      }
      const rows = logits.length / vocab;
      for (let r = 0; r < rows; r++) {
        const top = (x: ArrayLike<number>) => {
          let best = 0;
          for (let v = 1; v < vocab; v++) if (x[r * vocab + v]! > x[r * vocab + best]!) best = v;
          return best;
        };
        if (top(logits) === top(official)) same++;
      }
      console.log(`| ${fixture} | ${format.name} | ${name} | ${max.toExponential(2)} | ${Math.sqrt(se / sr).toExponential(2)} | ${same}/${rows} |`);
    }
  }
}
