// A model family defined only here — a one-layer gated linear recurrence LM — registers itself
// with core and then trains, generates, evaluates and exports through the unchanged CLI, and loads
// through the browser loader (picked files and a URL), with nothing in lm, the backends or the CLI
// knowing it exists.
import { readdir, readFile, writeFile, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadNodeRuntime } from "@densessm/backend-onnx";
import {
  CausalLM,
  Embedding,
  init,
  Linear,
  Module,
  ops,
  Parameter,
  registerModelFamily,
  Rng,
  Session,
  Tensor,
  unregisterModelFamily,
  type ChunkOutput,
  type FamilyModel,
  type LoadStateDictOptions,
  type ModelConfig,
  type ModelFamily,
  type PositionFeeds,
  type StateSpec,
  type SymTensor,
} from "@densessm/core";
import { loadPretrained, resolveModelDir } from "@densessm/lm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serveStatic } from "../../web/test/static-server.js";
import { cli } from "./helpers.js";

class ToyConfig implements ModelConfig {
  readonly family = "toy-linear-rnn";
  readonly vocabSize: number;
  readonly hiddenSize: number;

  constructor(json: Readonly<Record<string, unknown>>) {
    this.vocabSize = Number(json.vocab_size);
    this.hiddenSize = Number(json.hidden_size);
    for (const [key, v] of [["vocab_size", this.vocabSize], ["hidden_size", this.hiddenSize]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`config: ${key} must be a positive integer`);
    }
  }

  toJSON(): Record<string, unknown> {
    return { model_type: "toy-linear-rnn", vocab_size: this.vocabSize, hidden_size: this.hiddenSize };
  }
}

/** h_t = σ(decay) ⊙ h_(t-1) + s_t · W x_t,  logits_t = head(h_t), with s_t = 1 / (1 + t/8) a position feed. */
class ToyModule extends Module {
  embed: Embedding;
  decay: Parameter;
  input: Linear;
  head: Linear;

  constructor(config: ToyConfig, rng: Rng) {
    super();
    this.embed = new Embedding(config.vocabSize, config.hiddenSize, { rng, std: 0.5 });
    this.decay = new Parameter(init.zeros([config.hiddenSize]));
    this.input = new Linear(config.hiddenSize, config.hiddenSize, { bias: false, rng });
    this.head = new Linear(config.hiddenSize, config.vocabSize, { bias: true, rng });
  }
}

const positionScale = (start: number, length: number) => Tensor.float32(Array.from({ length }, (_, t) => 1 / (1 + (start + t) / 8)), [length, 1]);

class ToyModel implements FamilyModel<ToyConfig> {
  readonly kind = "toy-linear-rnn";
  readonly sequenceForms = ["parallel"] as const;
  readonly defaultChunkSize = 4;
  readonly states: readonly StateSpec[];
  readonly positions: PositionFeeds = { rows: { scale: [1] }, values: (start, length) => ({ scale: positionScale(start, length) }) };
  readonly module: ToyModule;

  constructor(readonly config: ToyConfig, seed: number) {
    this.module = new ToyModule(config, new Rng(seed));
    this.states = [{ name: "h", dtype: "float32", shape: (batch) => [batch, config.hiddenSize] }];
  }

  sequence(ids: SymTensor): SymTensor {
    return this.run(ids, ids.builder.constant(positionScale(0, ids.dim(1)))).logits;
  }

  chunk(ids: SymTensor, state: Readonly<Record<string, SymTensor>>, positions: Readonly<Record<string, SymTensor>>): ChunkOutput {
    const { logits, last } = this.run(ids, positions.scale!, state.h);
    return { logits, state: { h: last } };
  }

  private run(ids: SymTensor, scale: SymTensor, h0?: SymTensor): { logits: SymTensor; last: SymTensor } {
    const [b, t] = ids.shape as [number, number];
    const x = this.module.input.forward(this.module.embed.forward(ids)).mul(scale);
    const a = ops.sigmoid(this.module.decay).expand([b, t, this.config.hiddenSize]);
    const h = ops.scan(a, x, { axis: 1, ...(h0 ? { h0 } : {}) });
    return { logits: this.module.head.forward(h), last: h.slice(1, t - 1, t).reshape([b, this.config.hiddenSize]) };
  }

  loadStateDict(tensors: ReadonlyMap<string, Tensor>, options?: LoadStateDictOptions): void {
    this.module.loadStateDict(tensors, options);
  }

  stateDict(): Map<string, Tensor> {
    return this.module.stateDict();
  }
}

const toyFamily: ModelFamily<ToyConfig> = {
  name: "toy-linear-rnn",
  detect: (json) => json.model_type === "toy-linear-rnn",
  fromConfig: (json) => new ToyConfig(json),
  create: (config, options = {}) => new ToyModel(config, options.seed ?? 0),
};

const corpusFile = fileURLToPath(new URL("../assets/tinyshakespeare.txt", import.meta.url));
let dir = "";
let run = "";
let checkpoint = "";

beforeAll(async () => {
  registerModelFamily(toyFamily);
  dir = await mkdtemp(join(tmpdir(), "densessm-toy-"));
  await writeFile(join(dir, "corpus.txt"), (await readFile(corpusFile, "utf8")).slice(0, 30_000));
  await writeFile(join(dir, "toy.json"), JSON.stringify({ model_type: "toy-linear-rnn", hidden_size: 24 }));
  run = join(dir, "run");
  const trained = await cli("train", "--model", join(dir, "toy.json"), "--data", join(dir, "corpus.txt"), "--vocab-size", "400", "--out", run, "--steps", "30", "--lr", "0.02", "--batch-size", "4", "--seq-len", "24", "--eval-batches", "2", "--backend", "cpu", "--sample-tokens", "0", "--json");
  expect(trained.err).toBe("");
  expect(trained.code).toBe(0);
  checkpoint = await resolveModelDir(run);
});

afterAll(() => unregisterModelFamily("toy-linear-rnn"));

describe("a third model family, registered from a test", () => {
  it("trains through the CLI: the loss falls", async () => {
    const state = JSON.parse(await readFile(join(checkpoint, "training_state.json"), "utf8")) as { history: { loss: number }[]; evaluations: { loss: number }[] };
    expect(state.history).toHaveLength(30);
    expect(state.history.at(-1)!.loss).toBeLessThan(state.history[0]!.loss - 0.5);
    expect(JSON.parse(await readFile(join(checkpoint, "config.json"), "utf8"))).toEqual({ model_type: "toy-linear-rnn", vocab_size: 400, hidden_size: 24 });
  });

  it("generates and evaluates through the CLI, and its forms agree", async () => {
    const one = await cli("generate", "--model", run, "--prompt", "ROMEO:", "--max-tokens", "12", "--temperature", "0.8", "--seed", "2", "--backend", "cpu", "--json");
    expect(one.code).toBe(0);
    const text = (JSON.parse(one.out) as { texts: string[] }).texts[0]!;
    expect(text.length).toBeGreaterThan(0);
    const again = await cli("generate", "--model", run, "--prompt", "ROMEO:", "--max-tokens", "12", "--temperature", "0.8", "--seed", "2", "--backend", "cpu", "--json");
    expect((JSON.parse(again.out) as { texts: string[] }).texts[0]).toBe(text);
    const ids = join(dir, "ids.json");
    await writeFile(ids, JSON.stringify([[5, 17, 3, 42, 8, 9, 1, 30, 2, 7]]));
    for (const mode of ["parallel", "chunkwise", "recurrent"]) {
      const forward = await cli("forward", "--model", run, "--ids", ids, "--mode", mode, "--backend", "cpu", "--out", join(dir, `${mode}.json`), "--json");
      expect(forward.err).toBe("");
      expect((JSON.parse(forward.out) as { family: string }).family).toBe("toy-linear-rnn");
    }
    const logits = await Promise.all(["parallel", "chunkwise", "recurrent"].map(async (m) => (JSON.parse(await readFile(join(dir, `${m}.json`), "utf8")) as { logits: number[][][] }).logits.flat(2)));
    for (const other of logits.slice(1)) expect(Math.max(...other.map((v, i) => Math.abs(v - logits[0]![i]!)))).toBeLessThan(1e-5);
  });

  it("exports to ONNX through the CLI, position feeds included, and the exported models match", async () => {
    const out = join(dir, "onnx");
    const exported = await cli("export", "--model", run, "--out", out, "--prefill-length", "4", "--json");
    expect(exported.err).toBe("");
    expect(exported.code).toBe(0);
    const spec = JSON.parse(exported.out) as { states: { past: string; present: string; shape: number[] }[]; positionIds: boolean; maxPositions: number };
    expect(spec.states.map((s) => [s.past, s.present])).toEqual([["past_h", "present_h"]]);
    expect(spec.positionIds).toBe(true);
    expect(spec.maxPositions).toBe(2048);

    const ids = [5, 17, 3, 42, 8, 9, 1];
    const lm = await CausalLM.fromPretrained(checkpoint);
    const reference = (await lm.logits(new Session(await import("@densessm/backend-cpu").then((m) => new m.CpuBackend())), [ids], "recurrent")).toFloat32();
    const ort = await loadNodeRuntime();
    const load = async (file: string) => ort.InferenceSession.create(await readFile(join(out, file)), { executionProviders: ["cpu"], logSeverityLevel: 4 });
    const [prefill, decode] = [await load("prefill.onnx"), await load("decode.onnx")];
    let past: Record<string, unknown> = { past_h: new ort.Tensor("float32", new Float32Array(24), [1, 24]) };
    const rows: number[] = [];
    const feed = async (session: typeof prefill, start: number, len: number) => {
      const result = await session.run({
        input_ids: new ort.Tensor("int64", BigInt64Array.from(ids.slice(start, start + len).map(BigInt)), [1, len]),
        position_ids: new ort.Tensor("int64", BigInt64Array.from({ length: len }, (_, i) => BigInt(start + i)), [1, len]),
        ...past,
      } as Parameters<typeof session.run>[0]);
      rows.push(...(result.logits!.data as Float32Array));
      past = { past_h: result.present_h };
    };
    await feed(prefill, 0, 4);
    for (let t = 4; t < ids.length; t++) await feed(decode, t, 1);
    expect(rows.length).toBe(reference.length);
    expect(Math.max(...rows.map((v, i) => Math.abs(v - reference[i]!)))).toBeLessThan(1e-5);
  });

  it("loads through the browser loader, from picked files and from a URL on 127.0.0.1", async () => {
    const names = await readdir(checkpoint);
    const picked = await Promise.all(names.map(async (name) => ({ name: `step/${name}`, bytes: await readFile(join(checkpoint, name)) })));
    const fromFiles = await loadPretrained(picked.map((f) => ({ name: f.name, arrayBuffer: async () => f.bytes.buffer.slice(f.bytes.byteOffset, f.bytes.byteOffset + f.bytes.byteLength) as ArrayBuffer })));
    const server = await serveStatic(checkpoint);
    try {
      const fromUrl = await loadPretrained(server.url);
      const session = new Session(await import("@densessm/backend-cpu").then((m) => new m.CpuBackend()));
      const ids = [fromFiles.tokenizer.encode("ROMEO: O")];
      const a = (await fromFiles.lm.logits(session, ids, "parallel")).toFloat32();
      const b = (await fromUrl.lm.logits(session, ids, "parallel")).toFloat32();
      expect(fromFiles.lm.family).toBe("toy-linear-rnn");
      expect(Array.from(b)).toEqual(Array.from(a));
    } finally {
      await server.close();
    }
  });
});
