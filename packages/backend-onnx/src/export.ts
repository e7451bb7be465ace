import { CausalLM, DenseSSMError, lower, pastName, presentName, PRIMITIVE_NAMES, type Tensor } from "@densessm/core";
import { LOWERED_OPS, lowerGraph, type LowerOptions } from "./lower/graph.js";
import { bytesOf, type OnnxGraphBuilder } from "./onnx/builder.js";
import { attr, ELEM_TYPE, encodeModel, type ModelDef, type TensorInit } from "./onnx/model.js";

export interface ExportOptions {
  /** The model: loaded already, or a model folder (config.json + model.safetensors, tokenizer files optional) of a registered family. */
  readonly model?: CausalLM;
  readonly modelDir?: string;
  readonly outDir: string;
  /** Prompt length the prefill model takes (static shapes; default 16). */
  readonly prefillLength?: number;
  /**
   * Positions the exported models can address, for families whose chunk graphs take position feeds
   * (RetNet): their rows are tabulated up to here and looked up by position_ids (default: the
   * model's context length, else 2048).
   */
  readonly maxPositions?: number;
  /** Weights larger than this many bytes in total go to an external data file (default 1.8 GB, under protobuf's 2 GB limit). */
  readonly externalDataThreshold?: number;
}

/** How the exported models' state inputs and outputs are named, per state. */
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
  /** Whether the models take position_ids besides input_ids (families with position feeds). */
  readonly positionIds: boolean;
  /** The highest position_ids value + 1 the models accept (undefined: no position input). */
  readonly maxPositions?: number;
}

const TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt", "tokenizer.model", "generation_config.json"];

/**
 * The model's position feeds, looked up inside the exported graph: each feed's rows for positions
 * 0 .. maxPositions-1 become one initializer, gathered by position_ids. So the family's position
 * math stays in one place (its `positions.values`), with the same float32 values as our runtime.
 */
function positionLookups(lm: CausalLM, len: number, maxPositions: number): Record<string, (g: OnnxGraphBuilder) => string> {
  const tables = lm.model.positions?.values(0, maxPositions) ?? {};
  const declared = new WeakSet<OnnxGraphBuilder>();
  // Gathering [P, ...row] tables by position_ids [1, len] gives the chunk graph's [1, len, ...row] feeds.
  const positions = (g: OnnxGraphBuilder) => {
    if (!declared.has(g)) {
      g.inputs.push({ name: "position_ids", dtype: "int64", dims: [1, len] });
      declared.add(g);
    }
    return "position_ids";
  };
  return Object.fromEntries(
    Object.entries(tables).map(([name, table]) => [name, (g: OnnxGraphBuilder) => g.op("Gather", [g.rawConstant("float32", table.shape, bytesOf(table.toFloat32()), `position_table.${name}`), positions(g)], { axis: attr.int(0) })]),
  );
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
 * zero state) and `decode.onnx` (one token), both batch 1: the model's chunk graph, taking
 * `input_ids` (int64), the past states and, for families with position feeds, `position_ids`;
 * returning `logits` and the present states. States are named as in our own graphs, which follow
 * transformers.js: past_<state>/present_<state> (past_conv.{i}, past_ssm.{i} for Mamba,
 * past_retention.{i} for RetNet). Also copies config and tokenizer files and writes
 * densessm-onnx.json describing the interface.
 */
export async function exportOnnx(options: ExportOptions): Promise<ExportResult> {
  const { copyFile, mkdir, writeFile } = await import("node:fs/promises");
  const { existsSync, createWriteStream } = await import("node:fs");
  const { join } = await import("node:path");
  const prefillLength = options.prefillLength ?? 16;
  if (!Number.isInteger(prefillLength) || prefillLength < 1) throw new DenseSSMError(`exportOnnx: prefillLength must be a positive integer, got ${prefillLength}`);
  if (!options.model && !options.modelDir) throw new DenseSSMError("exportOnnx: give a model or a modelDir");
  const lm = options.model ?? (await CausalLM.fromPretrained(options.modelDir!));
  const hasPositions = Object.keys(lm.model.positions?.rows ?? {}).length > 0;
  const maxPositions = options.maxPositions ?? lm.model.contextLength ?? 2048;
  if (!Number.isInteger(maxPositions) || maxPositions < prefillLength) throw new DenseSSMError(`exportOnnx: maxPositions must be an integer of at least prefillLength (${prefillLength}), got ${maxPositions}`);
  const params = new Map<string, Tensor>(lm.module.namedParameters().map(([n, p]) => [n, p.value] as const));
  const supported = new Set([...PRIMITIVE_NAMES, ...LOWERED_OPS]);
  const states: StateSpec[] = lm.model.states.map((s) => ({ past: pastName(s.name), present: presentName(s.name), shape: s.shape(1) }));

  const build = (len: number, graphName: string): ModelDef => {
    const graph = lower(lm.chunkGraph(1, len), (op) => supported.has(op));
    const lowerOptions: LowerOptions = {
      graphName,
      initializers: params,
      computedInputs: { input_ids: int64Ids(len), ...(hasPositions ? positionLookups(lm, len, maxPositions) : {}) },
    };
    const lowered = lowerGraph(graph, lowerOptions);
    return { ...lowered.model, metadata: { family: lm.family, producer: "densessm.js", sequence_length: String(len) } };
  };

  const models = [build(prefillLength, "prefill"), build(1, "decode")];
  await mkdir(options.outDir, { recursive: true });
  const files: string[] = [];
  const weightBytes = [...params.values()].reduce((n, t) => n + t.size * 4, 0);
  if (weightBytes > (options.externalDataThreshold ?? 1.8e9)) {
    const chunks = externalize(models, "model.onnx_data");
    const stream = createWriteStream(join(options.outDir, "model.onnx_data"));
    for (const c of chunks) if (!stream.write(c)) await new Promise<void>((r) => stream.once("drain", () => r()));
    await new Promise<void>((resolve, reject) => stream.end((e?: Error | null) => (e ? reject(e) : resolve())));
    files.push("model.onnx_data");
  }
  for (const [name, m] of [["prefill.onnx", models[0]!], ["decode.onnx", models[1]!]] as const) {
    await writeFile(join(options.outDir, name), encodeModel(m));
    files.push(name);
  }
  if (options.modelDir) {
    for (const f of ["config.json", ...TOKENIZER_FILES]) {
      if (existsSync(join(options.modelDir, f))) {
        await copyFile(join(options.modelDir, f), join(options.outDir, f));
        files.push(f);
      }
    }
  } else {
    await writeFile(join(options.outDir, "config.json"), `${JSON.stringify(lm.config.toJSON(), null, 2)}\n`);
    files.push("config.json");
  }
  const result: ExportResult = { family: lm.family, files, prefillLength, states, positionIds: hasPositions, ...(hasPositions ? { maxPositions } : {}) };
  await writeFile(join(options.outDir, "densessm-onnx.json"), JSON.stringify({ ...result, inputs: ["input_ids", ...(hasPositions ? ["position_ids"] : []), ...states.map((s) => s.past)], outputs: ["logits", ...states.map((s) => s.present)] }, null, 2));
  files.push("densessm-onnx.json");
  return result;
}
