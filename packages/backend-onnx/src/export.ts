import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { DenseSSMError, lower, PRIMITIVE_NAMES, type Graph, type Module, type Tensor } from "@densessm/core";
import { LOWERED_OPS, lowerGraph, type LowerOptions } from "./lower/graph.js";
import type { OnnxGraphBuilder } from "./onnx/builder.js";
import { attr, ELEM_TYPE, encodeModel, type ModelDef, type TensorInit } from "./onnx/model.js";

export interface ExportOptions {
  /** A model folder (config.json + model.safetensors, tokenizer files optional). */
  readonly modelDir: string;
  readonly outDir: string;
  /** Prompt length the prefill model takes (static shapes; default 16). */
  readonly prefillLength?: number;
  /** Weights larger than this many bytes in total go to an external data file (default 1.8 GB, under protobuf's 2 GB limit). */
  readonly externalDataThreshold?: number;
}

/** How the exported models' state inputs and outputs are named, per layer. */
export interface StateSpec {
  readonly past: string;
  readonly present: string;
  readonly shape: readonly number[];
}

export interface ExportResult {
  readonly family: string;
  readonly files: readonly string[];
  readonly prefillLength: number;
  readonly states: readonly StateSpec[];
  /** Whether the models take position_ids (retention models) besides input_ids. */
  readonly positionIds: boolean;
}

/** What export needs of a model family: its step graph (ids + states → logits + states). */
interface Exportable {
  readonly family: string;
  readonly module: Module;
  stepGraph(length: number): Graph;
  /** IR state binding → exported past/present names. */
  readonly stateNames: ReadonlyMap<string, { past: string; present: string }>;
  /** Inputs the ONNX model computes itself, from position_ids. */
  computedInputs?(length: number): Readonly<Record<string, (g: OnnxGraphBuilder) => string>>;
}

const TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt", "tokenizer.model", "generation_config.json"];

async function loadExportable(dir: string): Promise<Exportable> {
  const config = JSON.parse(await readFile(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
  const retnet = await import("@densessm/retnet");
  let isRetention = true;
  try {
    retnet.detectArchitecture(config);
  } catch {
    isRetention = false;
  }
  if (isRetention) {
    const lm = (await retnet.loadCausalLM(dir)) as unknown as InstanceType<typeof retnet.DenseGauRetNet>;
    const runner = lm.runner;
    const names = new Map<string, { past: string; present: string }>();
    for (let i = 0; i < runner.shape.numLayers; i++) names.set(retnet.stateName(i), { past: `past_retention.${i}`, present: `present_retention.${i}` });
    return { family: lm.family, module: lm.module, stepGraph: (len) => runner.recurrentGraph(1, len), stateNames: names, computedInputs: (len) => retentionPositions(runner.shape, len) };
  }
  const mamba = await import("@densessm/mamba");
  const lm = await mamba.MambaForCausalLM.fromPretrained(dir);
  const names = new Map<string, { past: string; present: string }>();
  for (let i = 0; i < lm.config.nLayer; i++) {
    names.set(`conv_state.${i}`, { past: `past_conv.${i}`, present: `present_conv.${i}` });
    names.set(`ssm_state.${i}`, { past: `past_ssm.${i}`, present: `present_ssm.${i}` });
  }
  return { family: lm.config.dense ? "dense-mamba" : "mamba", module: lm.module, stepGraph: (len) => lm.chunkGraph(1, len), stateNames: names };
}

/** position_ids [1, len] (int64) and the input graph of retention's position tables. */
function positionIdsInput(g: OnnxGraphBuilder, len: number): string {
  if (!g.inputs.some((i) => i.name === "position_ids")) g.inputs.push({ name: "position_ids", dtype: "int64", dims: [1, len] });
  return g.op("Cast", [g.op("Reshape", ["position_ids", g.int64s([len, 1])])], { to: attr.int(ELEM_TYPE.float32) });
}

/**
 * Retention's recurrent feeds computed in-graph from position_ids, so a generic generation loop
 * (which only knows ids, positions and past states) drives the model: the theta-shift tables
 * sin/cos(t·ω) and the running-scale factors carry_t = γ sqrt(c_(t-1)/c_t), inject_t = 1/sqrt(c_t)
 * with c_t = (1 - γ^(t+1)) / (1 - γ) (c_(-1) = 0 makes carry_0 = 0, as on the host).
 */
function retentionPositions(shape: { keyDim: number; gammas: readonly number[] }, len: number): Record<string, (g: OnnxGraphBuilder) => string> {
  const half = shape.keyDim / 2;
  const angles = Array.from({ length: shape.keyDim }, (_, j) => {
    const e = half === 1 ? 0 : Math.floor(j / 2) / (half - 1);
    return Math.fround(1 / Math.pow(10000, Math.fround(e)));
  });
  const h = shape.gammas.length;
  const memo = new Map<string, string>();
  const once = (key: string, g: OnnxGraphBuilder, make: () => string) => memo.get(key) ?? (memo.set(key, make()), memo.get(key)!);
  const angle = (g: OnnxGraphBuilder) => once("angle", g, () => g.op("Mul", [positionIdsInput(g, len), g.constant("float32", [1, shape.keyDim], angles)]));
  const scale = (g: OnnxGraphBuilder, offset: number) =>
    once(`scale${offset}`, g, () => {
      const gamma = g.constant("float32", [1, h], shape.gammas.map(Math.fround));
      const power = g.op("Pow", [gamma, g.op("Add", [positionIdsInput(g, len), g.scalar("float32", offset)])]);
      return g.op("Div", [g.op("Sub", [g.scalar("float32", 1), power]), g.constant("float32", [1, h], shape.gammas.map((x) => 1 - Math.fround(x)))]);
    });
  return {
    sin: (g) => g.op("Sin", [angle(g)]),
    cos: (g) => g.op("Cos", [angle(g)]),
    inject: (g) => g.op("Reciprocal", [g.op("Sqrt", [scale(g, 1)])]),
    carry: (g) => g.op("Mul", [g.constant("float32", [1, h], shape.gammas.map(Math.fround)), g.op("Sqrt", [g.op("Div", [scale(g, 0), scale(g, 1)])])]),
  };
}

/** input_ids arrive as int64 (as transformers.js feeds them) and are cast to the graph's int32. */
function int64Ids(len: number): (g: OnnxGraphBuilder) => string {
  return (g) => {
    g.inputs.push({ name: "input_ids", dtype: "int64", dims: [1, len] });
    return g.op("Cast", ["input_ids"], { to: attr.int(ELEM_TYPE.int32) });
  };
}

/** Moves every initializer's bytes into one shared data file (ONNX external data). */
function externalize(models: ModelDef[], dataFile: string): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let offset = 0;
  const placed = new Map<string, { offset: number; length: number }>();
  const out = models.map((m) => {
    const initializers = m.graph.initializers.map((t): TensorInit => {
      if (!t.raw || t.raw.length < 1024) return t;
      // Weights are named after their parameters, so the two models share each one's bytes.
      let at = placed.get(t.name);
      if (!at) {
        const pad = (64 - (offset % 64)) % 64; // aligned, so runtimes can map the file
        if (pad) chunks.push(new Uint8Array(pad));
        offset += pad;
        at = { offset, length: t.raw.length };
        placed.set(t.name, at);
        chunks.push(t.raw);
        offset += t.raw.length;
      }
      return { name: t.name, dtype: t.dtype, dims: t.dims, external: { location: dataFile, ...at } };
    });
    return { ...m, graph: { ...m.graph, initializers } };
  });
  models.splice(0, models.length, ...out);
  return chunks;
}

/**
 * `densessm export --format onnx`: writes `prefill.onnx` (a prompt of `prefillLength` tokens from
 * zero state) and `decode.onnx` (one token), both batch 1, taking `input_ids` (int64), the past
 * states and, for retention models, `position_ids`; returning `logits` and the present states.
 * State names follow transformers.js: past_conv.{i}/past_ssm.{i} (Mamba) and
 * past_retention.{i} (RetNet), with present_* outputs. Also copies config and tokenizer files and
 * writes densessm-onnx.json describing the interface.
 */
export async function exportOnnx(options: ExportOptions): Promise<ExportResult> {
  const prefillLength = options.prefillLength ?? 16;
  if (!Number.isInteger(prefillLength) || prefillLength < 1) throw new DenseSSMError(`exportOnnx: prefillLength must be a positive integer, got ${prefillLength}`);
  const model = await loadExportable(options.modelDir);
  const params = new Map<string, Tensor>(model.module.namedParameters().map(([n, p]) => [n, p.value] as const));
  const supported = new Set([...PRIMITIVE_NAMES, ...LOWERED_OPS]);
  const states: StateSpec[] = [];

  const build = (len: number, graphName: string): ModelDef => {
    const graph = lower(model.stepGraph(len), (op) => supported.has(op));
    if (states.length === 0) {
      for (const b of graph.inputs) {
        const names = model.stateNames.get(b.name);
        if (names) states.push({ ...names, shape: graph.nodes[b.id]!.shape });
      }
    }
    const lowerOptions: LowerOptions = {
      graphName,
      initializers: params,
      rename: (name, role) => {
        const s = model.stateNames.get(name);
        return s ? (role === "input" ? s.past : s.present) : name;
      },
      computedInputs: { input_ids: int64Ids(len), ...(model.computedInputs?.(len) ?? {}) },
    };
    const lowered = lowerGraph(graph, lowerOptions);
    return { ...lowered.model, metadata: { family: model.family, producer: "densessm.js", sequence_length: String(len) } };
  };

  const models = [build(prefillLength, "prefill"), build(1, "decode")];
  await mkdir(options.outDir, { recursive: true });
  const files: string[] = [];
  const weightBytes = [...params.values()].reduce((n, t) => n + t.size * 4, 0);
  if (weightBytes > (options.externalDataThreshold ?? 1.8e9)) {
    const chunks = externalize(models, "model.onnx_data");
    const { createWriteStream } = await import("node:fs");
    const stream = createWriteStream(join(options.outDir, "model.onnx_data"));
    for (const c of chunks) if (!stream.write(c)) await new Promise<void>((r) => stream.once("drain", () => r()));
    await new Promise<void>((resolve, reject) => stream.end((e?: Error | null) => (e ? reject(e) : resolve())));
    files.push("model.onnx_data");
  }
  for (const [name, m] of [["prefill.onnx", models[0]!], ["decode.onnx", models[1]!]] as const) {
    await writeFile(join(options.outDir, name), encodeModel(m));
    files.push(name);
  }
  for (const f of ["config.json", ...TOKENIZER_FILES]) {
    if (existsSync(join(options.modelDir, f))) {
      await copyFile(join(options.modelDir, f), join(options.outDir, f));
      files.push(f);
    }
  }
  const positionIds = model.computedInputs !== undefined;
  const result: ExportResult = { family: model.family, files, prefillLength, states, positionIds };
  await writeFile(join(options.outDir, "densessm-onnx.json"), JSON.stringify({ ...result, inputs: ["input_ids", ...(positionIds ? ["position_ids"] : []), ...states.map((s) => s.past)], outputs: ["logits", ...states.map((s) => s.present)] }, null, 2));
  files.push("densessm-onnx.json");
  return result;
}
