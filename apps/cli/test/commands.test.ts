// The CLI's commands on a tiny run: each works end to end, and each kind of bad input ends in one
// line that names the problem.
import { cp, mkdtemp, readFile, readdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { trainTokenizer, saveTokenizer } from "@densessm/tokenizer";
import { beforeAll, describe, expect, it } from "vitest";
import { cli } from "./helpers.js";

const corpusFile = fileURLToPath(new URL("../assets/tinyshakespeare.txt", import.meta.url));

let dir = "";
let run = "";
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "densessm-cli-"));
  await writeFile(join(dir, "corpus.txt"), (await readFile(corpusFile, "utf8")).slice(0, 40_000));
  await writeFile(join(dir, "eval.txt"), (await readFile(corpusFile, "utf8")).slice(50_000, 52_000));
  await writeFile(join(dir, "config.json"), JSON.stringify({ d_model: 32, n_layer: 2, vocab_size: 0, ssm_cfg: { d_state: 8 } }));
  run = join(dir, "run");
  const r = await cli("train", "--model", join(dir, "config.json"), "--data", join(dir, "corpus.txt"), "--vocab-size", "400", "--out", run, "--steps", "3", "--batch-size", "2", "--seq-len", "16", "--eval-batches", "1", "--backend", "cpu", "--sample-tokens", "8", "--json");
  expect(r.err).toBe("");
  expect(r.code).toBe(0);
  const summary = JSON.parse(r.out) as { steps: number; validation: { perplexity: number }; sample: string };
  expect(summary.steps).toBe(3);
  expect(summary.validation.perplexity).toBeGreaterThan(1);
});

describe("commands on a trained run", () => {
  it("generate streams text for one prompt and batches several", async () => {
    const one = await cli("generate", "--model", run, "--prompt", "ROMEO:", "--max-tokens", "5", "--backend", "cpu");
    expect(one.code).toBe(0);
    expect(one.out.startsWith("ROMEO:")).toBe(true);
    const many = await cli("generate", "--model", run, "--prompt", "ROMEO:", "--prompt", "To be", "--max-tokens", "4", "--temperature", "0.9", "--seed", "3", "--backend", "cpu", "--json");
    expect((JSON.parse(many.out) as { texts: string[] }).texts).toHaveLength(2);
  });

  it("eval reports token, word and byte perplexities", async () => {
    const r = await cli("eval", "--model", run, "--text", join(dir, "eval.txt"), "--window", "32", "--stride", "16", "--mode", "recurrent", "--backend", "cpu", "--json");
    const report = JSON.parse(r.out) as { tokenPerplexity: number; bitsPerByte: number; mode: string };
    expect(report.mode).toBe("recurrent");
    expect(report.tokenPerplexity).toBeGreaterThan(1);
    expect(report.bitsPerByte).toBeGreaterThan(0);
  });

  it("exports ONNX prefill and decode models", async () => {
    const out = join(dir, "onnx");
    const r = await cli("export", "--model", run, "--out", out, "--prefill-length", "4", "--json");
    expect(r.code).toBe(0);
    expect((await readdir(out)).sort()).toEqual(expect.arrayContaining(["decode.onnx", "prefill.onnx", "config.json", "tokenizer.json"]));
  });

  it("tokenize and tokenizer train", async () => {
    const tok = join(dir, "tok");
    expect((await cli("tokenizer", "train", "--corpus", join(dir, "corpus.txt"), "--vocab-size", "350", "--out", tok)).code).toBe(0);
    await writeFile(join(dir, "in.jsonl"), '{"text": "To be"}\n{"text": "or not"}\n');
    expect((await cli("tokenize", "--tokenizer", tok, "--in", join(dir, "in.jsonl"), "--out", join(dir, "out.jsonl"), "--no-special")).code).toBe(0);
    const lines = (await readFile(join(dir, "out.jsonl"), "utf8")).trim().split("\n").map((l) => JSON.parse(l) as { ids: number[] });
    expect(lines).toHaveLength(2);
    expect(lines[0]!.ids.length).toBeGreaterThan(0);
  });
});

describe("bad input: one line naming the problem", () => {
  const expectOneLine = (r: { code: number; err: string }, pattern: RegExp) => {
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(pattern);
    expect(r.err.trim().split("\n").filter((l) => !l.startsWith("(run with")).length).toBe(1);
  };

  it("a bad flag value", async () => {
    expectOneLine(await cli("train", "--steps", "0"), /--steps.*expected a positive integer/);
    expectOneLine(await cli("generate", "--model", run, "--prompt", "x", "--top-p", "2"), /--top-p.*\(0, 1\]/);
  });

  it("a missing data file or model", async () => {
    expectOneLine(await cli("train", "--data", join(dir, "missing.txt"), "--out", join(dir, "r2")), /data path .*missing.txt does not exist/);
    expectOneLine(await cli("generate", "--model", join(dir, "nothing"), "--prompt", "x"), /nothing is neither a model folder/);
    expectOneLine(await cli("train", "--model", "gpt-9", "--data", join(dir, "corpus.txt"), "--out", join(dir, "r3"), "--backend", "cpu"), /--model gpt-9 is neither a preset nor a readable config.json/);
  });

  it("a corrupt checkpoint", async () => {
    const broken = join(dir, "broken");
    await cp(run, broken, { recursive: true });
    const latest = JSON.parse(await readFile(join(broken, "latest.json"), "utf8")) as { checkpoint: string };
    await writeFile(join(broken, latest.checkpoint, "model.safetensors"), "not a safetensors file at all");
    expectOneLine(await cli("generate", "--model", broken, "--prompt", "x", "--backend", "cpu"), /model.safetensors: header length \d+ is over the 104857600-byte limit/);
    await writeFile(join(broken, "latest.json"), "{ nope");
    expectOneLine(await cli("train", "--resume", broken), /latest.json is corrupt/);
  });

  it("a tokenizer that does not belong to the model", async () => {
    const mixed = join(dir, "mixed");
    const latest = JSON.parse(await readFile(join(run, "latest.json"), "utf8")) as { checkpoint: string };
    await cp(join(run, latest.checkpoint), mixed, { recursive: true });
    await saveTokenizer(trainTokenizer((await readFile(join(dir, "corpus.txt"), "utf8")) + "xyz", { vocabSize: 900 }), mixed);
    expectOneLine(await cli("generate", "--model", mixed, "--prompt", "x", "--backend", "cpu"), /tokenizer has 900 tokens but the model's vocabulary is 400/);
    expectOneLine(await cli("train", "--resume", run, "--tokenizer", mixed), /a resumed run keeps its settings, and these differ: tokenizer ".*mixed" \(the run's: null\)/);
  });
});
