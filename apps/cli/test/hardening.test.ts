// What a hostile probe of the CLI found (issue 15, "Hardening"): each case ends in one line naming
// the problem, interrupted checkpoint writes are cleaned up, a resumed run refuses changed
// settings, seeds do not wrap, and every run keeps its metrics in metrics.jsonl.
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { cleanRunFolder, train } from "@densessm/lm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli } from "./helpers.js";

const corpusFile = fileURLToPath(new URL("../assets/tinyshakespeare.txt", import.meta.url));
const models = fileURLToPath(new URL("../../../models/", import.meta.url));

let dir = "";
let run = "";
const trainArgs = () => ["train", "--model", join(dir, "config.json"), "--data", join(dir, "corpus.txt"), "--vocab-size", "400", "--out", run, "--steps", "4", "--batch-size", "2", "--seq-len", "16", "--eval-every", "2", "--eval-batches", "1", "--checkpoint-every", "2", "--backend", "cpu", "--sample-tokens", "0", "--json"];
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "densessm-hardening-"));
  await writeFile(join(dir, "corpus.txt"), (await readFile(corpusFile, "utf8")).slice(0, 20_000));
  await writeFile(join(dir, "config.json"), JSON.stringify({ d_model: 16, n_layer: 1, vocab_size: 0, ssm_cfg: { d_state: 4 } }));
  run = join(dir, "run");
  const r = await cli(...trainArgs());
  expect(r.code, r.err).toBe(0);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const oneLine = (r: { code: number; err: string }) => {
  expect(r.code).toBe(1);
  expect(r.err.trim().split("\n")).toHaveLength(1);
  expect(r.err).not.toMatch(/\n\s+at /);
  return r.err;
};

describe("one-line errors instead of stack traces", () => {
  it("a config.json or latest.json that is null", async () => {
    const model = join(dir, "null-config");
    await mkdir(model);
    await writeFile(join(model, "config.json"), "null");
    expect(oneLine(await cli("generate", "--model", model, "--prompt", "a"))).toMatch(/null-config\/config\.json: expected a JSON object, got null/);
    const broken = join(dir, "null-latest");
    await mkdir(broken);
    await writeFile(join(broken, "latest.json"), "null");
    expect(oneLine(await cli("generate", "--model", broken, "--prompt", "a"))).toMatch(/null-latest\/latest\.json is corrupt/);
    expect(oneLine(await cli("train", "--resume", broken))).toMatch(/null-latest\/latest\.json is corrupt/);
  });

  it("tokenize --in with a missing file", async () => {
    expect(oneLine(await cli("tokenize", "--tokenizer", run, "--in", join(dir, "missing.jsonl"), "--out", join(dir, "out.jsonl")))).toMatch(/missing\.jsonl: no such file/);
  });

  it("forward --out into a missing folder fails before the forward pass", async () => {
    const err = oneLine(await cli("forward", "--model", join(models, "mamba-tiny"), "--ids", join(models, "mamba-tiny", "ids.json"), "--out", join(dir, "no-such-folder", "logits.json")));
    expect(err).toMatch(/--out .*logits\.json: the folder .*no-such-folder does not exist/);
  });
});

describe("tokenize", () => {
  it("reads JSONL that starts with a UTF-8 byte order mark, and takes a run folder as --tokenizer", async () => {
    await writeFile(join(dir, "bom.jsonl"), `\uFEFF${JSON.stringify({ text: "To be" })}\n${JSON.stringify({ text: "or not" })}\n`);
    const r = await cli("tokenize", "--tokenizer", run, "--in", join(dir, "bom.jsonl"), "--out", join(dir, "bom-ids.jsonl"));
    expect(r.code, r.err).toBe(0);
    expect((await readFile(join(dir, "bom-ids.jsonl"), "utf8")).trim().split("\n")).toHaveLength(2);
  });
});

describe("seeds", () => {
  it("out of range are refused, not wrapped modulo 2^32", async () => {
    const r = await cli("generate", "--model", run, "--prompt", "a", "--seed", "4294967296");
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/--seed.*expected an integer from 0 to 4294967295/);
    await expect(train({ model: join(dir, "config.json"), data: [join(dir, "corpus.txt")], out: join(dir, "never"), seed: 2 ** 32 })).rejects.toThrow(/train: seed must be an integer from 0 to 4294967295, got 4294967296/);
  });
});

describe("train --resume", () => {
  it("refuses settings that would make it another run, naming each; --steps may grow", async () => {
    const refused = oneLine(await cli("train", "--resume", run, "--lr", "0.1", "--batch-size", "3", "--seq-len", "8", "--model", "mamba-tiny"));
    expect(refused).toMatch(/a resumed run keeps its settings, and these differ: model "mamba-tiny" .*batchSize 3 \(the run's: 2\), seqLen 8 \(the run's: 16\), lr 0\.1 \(the run's: 0\.002\)/);
    const longer = await cli("train", "--resume", run, "--steps", "6", "--json");
    expect(longer.code, longer.err).toBe(0);
    expect((JSON.parse(longer.out) as { steps: number }).steps).toBe(6);
  });

  it("cleans up what interrupted checkpoint writes left, never the checkpoint latest.json names", async () => {
    const copy = join(dir, "interrupted");
    await cp(run, copy, { recursive: true });
    const latest = (JSON.parse(await readFile(join(copy, "latest.json"), "utf8")) as { checkpoint: string }).checkpoint;
    await mkdir(join(copy, "step-000099.tmp-4242"));
    await writeFile(join(copy, "step-000099.tmp-4242", "config.json"), "{}");
    await mkdir(join(copy, "step-000001"));
    await writeFile(join(copy, "step-000001", "config.json"), "{}"); // a deletion cut short
    await writeFile(join(copy, "latest.json.4242.1700000000000.tmp"), "{");
    const before = await stat(join(copy, latest, "model.safetensors"));
    expect((await cleanRunFolder(copy)).sort()).toEqual(["latest.json.4242.1700000000000.tmp", "step-000001", "step-000099.tmp-4242"]);
    expect((await stat(join(copy, latest, "model.safetensors"))).mtimeMs).toBe(before.mtimeMs);
    // Even an incomplete checkpoint stays when latest.json names it.
    await rm(join(copy, latest, "optimizer.safetensors"));
    expect(await cleanRunFolder(copy)).toEqual([]);
    expect(await readdir(join(copy, latest))).toContain("model.safetensors");
  });
});

describe("metrics.jsonl", () => {
  it("holds every step's loss, lr and tokens/s and every validation, at full precision", async () => {
    const fresh = join(dir, "metrics-run");
    const args = trainArgs().map((a) => (a === run ? fresh : a));
    expect((await cli(...args)).code).toBe(0);
    const lines = (await readFile(join(fresh, "metrics.jsonl"), "utf8")).trim().split("\n").map((l) => JSON.parse(l) as Record<string, number>);
    const steps = lines.filter((l) => "loss" in l);
    expect(steps.map((l) => l.step)).toEqual([1, 2, 3, 4]);
    for (const l of steps) expect(Object.keys(l).sort()).toEqual(["loss", "lr", "step", "tokensPerSecond", "tokensSeen"]);
    const state = JSON.parse(await readFile(join(fresh, "step-000004", "training_state.json"), "utf8")) as { history: { loss: number }[]; evaluations: { step: number; loss: number }[] };
    expect(steps.map((l) => l.loss)).toEqual(state.history.map((h) => h.loss)); // bit-identical numbers
    expect(lines.filter((l) => "validationLoss" in l).map((l) => [l.step, l.validationLoss])).toEqual(state.evaluations.map((e) => [e.step, e.loss]));
  });
});
