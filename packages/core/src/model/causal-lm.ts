import type { DeviceTensor } from "../backend/backend.js";
import { gradients } from "../autodiff/gradients.js";
import { DenseSSMError, ShapeError } from "../errors.js";
import type { Graph } from "../graph/graph.js";
import { trace, type SymTensor } from "../graph/symbolic.js";
import { folderSource, type FileSource } from "../io/file-source.js";
import { writeFileAtomic, writeSafetensorsFolder } from "../io/files.js";
import type { Module } from "../nn/module.js";
import { crossEntropy } from "../ops/composites.js";
import type { Feed, Session } from "../runtime/session.js";
import { Tensor } from "../tensor/tensor.js";
import { decoderFromSnapshot, GraphDecoder, logitsWidth, type DecoderSetup } from "./decoder.js";
import { createFamilyModel, getModelFamily, detectModelFamily, type CreateOptions, type FamilyModel, type LoadStateDictOptions, type ModelConfig, type SequenceForm } from "./family.js";
import { loadCausalLM, type LoadOptions } from "./load.js";
import { concatPositions } from "./logits.js";
import type { DecoderSnapshot } from "./snapshot.js";
import { deserializeState, serializeState, type StateIdentity } from "./state-file.js";
import { pastName, presentName } from "./state-names.js";
import { checkTokenIds } from "./token-ids.js";
import { quantizationConfigJSON, type QuantizationConfig } from "../quant/format.js";
import { quantizationOf, quantizeModule, type QuantizeOptions } from "../quant/modules.js";

/** How a sequence is run: all positions at once, chunk by chunk, or token by token. */
export type ForwardMode = "parallel" | "chunkwise" | "recurrent";

export interface CausalLMOptions {
  /** Tokens per chunk of the "chunkwise" form and of prefill (default: the family's). */
  chunkSize?: number;
}

/**
 * A causal language model of any registered family, ready to train, evaluate, decode and export.
 * The family describes the math (`FamilyModel`); this class owns everything that is the same for
 * every family: the per-shape graph cache, binding parameters to a session once, token-id checks,
 * the shifted loss, assembling logits from chunks and steps, and the decoding loop.
 *
 *     import "@densessm/lm"; // registers the families DenseSSM.js ships
 *     const lm = await CausalLM.fromPretrained("models/dense-gau-retnet-tiny");
 *     const logits = await lm.logits(session, [[1, 2, 3]], "recurrent");
 */
export class CausalLM {
  readonly modes: readonly ForwardMode[] = ["parallel", "chunkwise", "recurrent"];
  private readonly graphs = new Map<string, Graph>();
  private bound = new WeakSet<Session>();
  private chunk: number;

  constructor(
    readonly model: FamilyModel,
    options: CausalLMOptions = {},
  ) {
    this.chunk = checkChunkSize(options.chunkSize ?? model.defaultChunkSize);
    const reserved = ["input_ids", "labels", "logits", "loss", ...model.states.flatMap((s) => [pastName(s.name), presentName(s.name)])];
    const clash = Object.keys(model.positions?.rows ?? {}).filter((n) => reserved.includes(n));
    if (clash.length) throw new DenseSSMError(`${model.kind}: position feed name(s) ${clash.join(", ")} clash with graph inputs/outputs core reserves`);
  }

  /** A freshly initialised model from a typed config or a config.json object (family detected). */
  static fromConfig(config: ModelConfig | Readonly<Record<string, unknown>>, options: CausalLMOptions & CreateOptions = {}): CausalLM {
    const typed = isModelConfig(config) ? config : detectModelFamily(config).fromConfig(config);
    return new CausalLM(createFamilyModel(getModelFamily(typed.family), typed, options), options);
  }

  /** Loads a model folder (a path, on Node) or any FileSource: config.json and the weights. */
  static fromPretrained(source: string | FileSource, options: LoadOptions = {}): Promise<CausalLM> {
    return loadCausalLM(typeof source === "string" ? folderSource(source) : source, options);
  }

  /** What the model is: "dense-gau-retnet", "retnet", "dense-retnet", "mamba", "dense-mamba", ... */
  get family(): string {
    return this.model.kind;
  }

  get config(): ModelConfig {
    return this.model.config;
  }

  get module(): Module {
    return this.model.module;
  }

  get vocabSize(): number {
    return this.model.config.vocabSize;
  }

  /** How the weights are quantized (config.json's `quantization_config`); undefined for float weights. */
  get quantization(): QuantizationConfig | undefined {
    return quantizationOf(this.module);
  }

  get chunkSize(): number {
    return this.chunk;
  }

  set chunkSize(size: number) {
    this.chunk = checkChunkSize(size);
  }

  /** Binds this model's parameters to a session (once per session; changed values re-upload by themselves). */
  bind(session: Session): void {
    if (this.bound.has(session)) return;
    session.setParameters(this.module.namedParameters());
    this.bound.add(session);
  }

  // ---- graphs (traced once per shape, cached) ----

  /** input_ids [B, L] → logits [B, L, V], from the start, in a whole-sequence form. */
  sequenceGraph(batch: number, length: number, form: SequenceForm = "parallel", chunkSize = this.chunk): Graph {
    this.checkForm(form);
    const key = form === "chunkwise" ? `sequence:chunkwise:${batch}x${length}:${checkChunkSize(chunkSize)}` : `sequence:parallel:${batch}x${length}`;
    return this.cached(key, () =>
      trace(({ input_ids }) => ({ logits: this.model.sequence(input_ids!, form, { chunkSize }) }), {
        inputs: { input_ids: { shape: [batch, length], dtype: "int32" } },
        parameters: this.module.namedParameters(),
      }),
    );
  }

  /**
   * `length` tokens continuing from a state: input_ids [B, T], the position feeds ([B, T, ...row]:
   * each row at positions of its own) and `past_<state>` → logits [B, T, V] and `present_<state>`.
   * T = 1 is the decoding step.
   */
  chunkGraph(batch: number, length: number): Graph {
    return this.cached(`chunk:${batch}x${length}`, () => {
      const inputs: Record<string, { shape: number[]; dtype?: Tensor["dtype"] }> = { input_ids: { shape: [batch, length], dtype: "int32" } };
      for (const [name, row] of Object.entries(this.model.positions?.rows ?? {})) inputs[name] = { shape: [batch, length, ...row] };
      for (const s of this.model.states) inputs[pastName(s.name)] = { shape: s.shape(batch), dtype: s.dtype };
      return trace(
        (x) => {
          const state = Object.fromEntries(this.model.states.map((s) => [s.name, x[pastName(s.name)]!]));
          const positions = Object.fromEntries(Object.keys(this.model.positions?.rows ?? {}).map((n) => [n, x[n]!]));
          const out = this.model.chunk(x.input_ids!, state, positions);
          const result: Record<string, SymTensor> = { logits: out.logits };
          for (const s of this.model.states) {
            const next = out.state[s.name];
            if (!next) throw new DenseSSMError(`${this.family}: chunk() returned no state "${s.name}"`);
            result[presentName(s.name)] = next;
          }
          return result;
        },
        { inputs, parameters: this.module.namedParameters() },
      );
    });
  }

  /**
   * The training loss: input_ids and labels [B, L] (int32) give the scalar `loss`, the mean
   * cross-entropy of logits at position t against labels at t + 1 (labels -100 ignored).
   */
  lossGraph(batch: number, length: number, form: SequenceForm = "parallel"): Graph {
    if (length < 2) throw new ShapeError(`the causal LM loss needs sequences of at least 2 tokens, got ${length}`);
    this.checkForm(form);
    return this.cached(`loss:${form}:${batch}x${length}:${form === "chunkwise" ? this.chunk : ""}`, () =>
      trace(({ input_ids, labels }) => ({ loss: shiftedLoss(this.model.sequence(input_ids!, form, { chunkSize: this.chunk }), labels!) }), {
        inputs: { input_ids: { shape: [batch, length], dtype: "int32" }, labels: { shape: [batch, length], dtype: "int32" } },
        parameters: this.module.namedParameters(),
      }),
    );
  }

  /** The loss graph with a `grad:<parameter>` output for every parameter the loss reaches. */
  trainGraph(batch: number, length: number, form: SequenceForm = "parallel"): Graph {
    return this.cached(`train:${form}:${batch}x${length}:${form === "chunkwise" ? this.chunk : ""}`, () => gradients(this.lossGraph(batch, length, form), { loss: "loss" }));
  }

  /**
   * input_ids [B, L] → `hidden_0` (the embedding output) … `hidden_<layers>` (each layer's output),
   * each [B, L, D], for families that implement `FamilyModel.hiddenStates`.
   */
  hiddenStatesGraph(batch: number, length: number): Graph {
    const hiddenStates = this.model.hiddenStates?.bind(this.model);
    if (!hiddenStates) throw new DenseSSMError(`${this.family} does not expose its hidden states (its FamilyModel has no hiddenStates)`);
    return this.cached(`hidden:${batch}x${length}`, () =>
      trace(({ input_ids }) => Object.fromEntries(hiddenStates(input_ids!).map((h, i) => [`hidden_${i}`, h])), {
        inputs: { input_ids: { shape: [batch, length], dtype: "int32" } },
        parameters: this.module.namedParameters(),
      }),
    );
  }

  // ---- running ----

  /** The residual stream of equal-length rows of ids: the embedding output, then each layer's output ([B, L, D] each). */
  async hiddenStates(session: Session, ids: readonly (readonly number[])[]): Promise<Tensor[]> {
    const [batch, length] = checkTokenIds(ids, this.vocabSize);
    const graph = this.hiddenStatesGraph(batch, length);
    this.bind(session);
    const out = await session.run(graph, { input_ids: Tensor.int32(ids.flat(), [batch, length]) });
    return graph.outputs.map((o) => out[o.name]!);
  }

  /** Zero states for a batch (the start of every sequence), by state name. */
  initialState(batch: number): Record<string, Tensor> {
    return Object.fromEntries(this.model.states.map((s) => [s.name, Tensor.zeros(s.shape(batch), s.dtype)]));
  }

  /**
   * The chunk graph's position feeds [B, length, ...row]: row b for positions
   * starts[b] .. starts[b] + length - 1 (rows of a batch may stand at different positions).
   */
  positionFeeds(starts: readonly number[], length: number): Record<string, Tensor> {
    const positions = this.model.positions;
    if (!positions) return {};
    const tables = new Map<number, Record<string, Tensor>>();
    const rowsAt = (start: number) => {
      let t = tables.get(start);
      if (!t) tables.set(start, (t = positions.values(start, length)));
      return t;
    };
    return Object.fromEntries(
      Object.entries(positions.rows).map(([name, row]) => {
        const width = length * row.reduce((n, d) => n * d, 1);
        const data = new Float32Array(starts.length * width);
        starts.forEach((start, b) => data.set(rowsAt(start)[name]!.toFloat32(), b * width));
        return [name, new Tensor(data, [starts.length, length, ...row], "float32")];
      }),
    );
  }

  /**
   * Runs `ids` [B][T] from `state` (by state name; host or device tensors) through one chunk graph,
   * starting at absolute position `start` (or row b at `start[b]`). The logits and the next state
   * stay on the backend.
   */
  async runChunk(session: Session, ids: readonly (readonly number[])[], state: Readonly<Record<string, Feed>>, start: number | readonly number[]): Promise<{ logits: DeviceTensor; state: Record<string, DeviceTensor> }> {
    const [batch, length] = checkTokenIds(ids, this.vocabSize);
    this.bind(session);
    const starts = typeof start === "number" ? new Array<number>(batch).fill(start) : start;
    if (starts.length !== batch) throw new DenseSSMError(`runChunk: ${starts.length} start positions for ${batch} rows`);
    const feeds: Record<string, Feed> = { input_ids: Tensor.int32(ids.flat(), [batch, length]), ...this.positionFeeds(starts, length) };
    for (const s of this.model.states) feeds[pastName(s.name)] = state[s.name]!;
    const out = await session.runOnDevice(this.chunkGraph(batch, length), feeds);
    return { logits: out.get("logits")!, state: Object.fromEntries(this.model.states.map((s) => [s.name, out.get(presentName(s.name))!])) };
  }

  /**
   * Logits [B, L, V] for equal-length rows of ids:
   *  - "parallel": the whole-sequence graph;
   *  - "chunkwise": the family's chunkwise graph when it has one, else chunk graphs of `chunkSize`
   *    tokens with the state carried between them on the backend;
   *  - "recurrent": the one-token step graph, token by token from a zero state.
   */
  async logits(session: Session, ids: readonly (readonly number[])[], mode: ForwardMode): Promise<Tensor> {
    const [batch, length] = checkTokenIds(ids, this.vocabSize);
    if (!this.modes.includes(mode)) throw new DenseSSMError(`unknown mode ${JSON.stringify(mode)} (expected ${this.modes.join(", ")})`);
    this.bind(session);
    if (mode === "parallel" || (mode === "chunkwise" && this.model.sequenceForms.includes("chunkwise"))) {
      return (await session.run(this.sequenceGraph(batch, length, mode), { input_ids: Tensor.int32(ids.flat(), [batch, length]) })).logits!;
    }
    const step = mode === "recurrent" ? 1 : this.chunk;
    const parts: Tensor[] = [];
    await this.streamChunks(session, ids, step, async (logits) => {
      parts.push(await session.backend.download(logits));
      session.backend.release(logits);
    });
    return concatPositions(parts);
  }

  /**
   * Runs the prompts (equal length) chunk by chunk and returns a decoder positioned after them,
   * with the state and the last logits kept on the backend.
   */
  async startDecoding(session: Session, prompts: readonly (readonly number[])[]): Promise<GraphDecoder> {
    checkTokenIds(prompts, this.vocabSize, "prompts");
    const decoder = new GraphDecoder({ ...this.decoderOptions(session), state: this.initialState(prompts.length), history: prompts.map(() => []) });
    await decoder.feed(prompts);
    return decoder;
  }

  /**
   * A decoder continuing from a snapshot (`decoder.snapshot()`, or `deserializeState` of saved
   * bytes): what it generates is bit for bit what the snapshotted decoder would have generated.
   */
  resumeDecoding(session: Session, snapshot: DecoderSnapshot): GraphDecoder {
    return decoderFromSnapshot(this.decoderOptions(session), snapshot);
  }

  /**
   * A snapshot as bytes (safetensors, with the model's identity in its metadata), to keep on disk,
   * in IndexedDB or in a cache, and resume later with `deserializeState`.
   */
  serializeState(snapshot: DecoderSnapshot): Uint8Array {
    return serializeState(this.stateIdentity(), snapshot);
  }

  /**
   * Bytes from `serializeState` back into a snapshot, checked to belong to this model: the same
   * family, config, state names, dtypes and shapes (a FormatError names what differs).
   */
  deserializeState(bytes: Uint8Array): DecoderSnapshot {
    return deserializeState(this.stateIdentity(), bytes);
  }

  /** Everything a GraphDecoder of this model needs besides where it starts. */
  decoderOptions(session: Session): DecoderSetup {
    this.bind(session);
    return {
      session,
      chunkGraph: (batch, length) => this.chunkGraph(batch, length),
      chunkSize: this.chunk,
      vocabSize: this.vocabSize,
      states: this.model.states.map((s) => s.name),
      positionFeeds: (starts, length) => this.positionFeeds(starts, length),
    };
  }

  private stateIdentity(): StateIdentity {
    return { family: this.family, config: this.config.toJSON(), states: this.model.states, logitsWidth: logitsWidth(this.chunkGraph(1, 1)), vocabSize: this.vocabSize };
  }

  /** Feeds ids through chunk graphs of at most `size` tokens from a zero state; returns the final state. */
  private async streamChunks(session: Session, ids: readonly (readonly number[])[], size: number, onLogits: (logits: DeviceTensor) => void | Promise<void>): Promise<Record<string, Feed>> {
    let state: Record<string, Feed> = this.initialState(ids.length);
    const length = ids[0]!.length;
    for (let start = 0; start < length; start += size) {
      const out = await this.runChunk(session, ids.map((row) => row.slice(start, start + size)), state, start);
      releaseDevice(session, state);
      state = out.state;
      await onLogits(out.logits);
    }
    return state;
  }

  // ---- weights ----

  stateDict(): Map<string, Tensor> {
    return this.model.stateDict();
  }

  loadStateDict(tensors: ReadonlyMap<string, Tensor>, options?: LoadStateDictOptions): void {
    this.model.loadStateDict(tensors, options);
  }

  /**
   * Quantizes every Linear and Embedding weight in place, lm_head included (round to nearest, no
   * calibration data; see `quantizeModule`). `save` then writes the quantized folder.
   */
  quantize(options: QuantizeOptions): QuantizationConfig {
    const config = quantizeModule(this.module, options);
    // The parameters changed identity: graphs and session bindings made before are stale.
    this.graphs.clear();
    this.bound = new WeakSet();
    return config;
  }

  /** Trainable scalars (tied parameters counted once). */
  numParameters(): number {
    return this.module.numParameters();
  }

  /**
   * Writes config.json and model.safetensors (float32, the official names), so the official code
   * loads them; a quantized model writes its codes and float16 scales and a `quantization_config`.
   */
  async save(dir: string): Promise<void> {
    const { join } = await import("node:path");
    await writeSafetensorsFolder(dir, this.stateDict());
    const q = this.quantization;
    const quantization = q ? { quantization_config: quantizationConfigJSON(q) } : {};
    await writeFileAtomic(join(dir, "config.json"), `${JSON.stringify({ ...this.config.toJSON(), ...quantization }, null, 2)}\n`);
  }

  private cached(key: string, build: () => Graph): Graph {
    let graph = this.graphs.get(key);
    if (!graph) this.graphs.set(key, (graph = build()));
    return graph;
  }

  private checkForm(form: SequenceForm): void {
    if (!this.model.sequenceForms.includes(form)) throw new DenseSSMError(`${this.family} has no whole-sequence ${form} form (it has: ${this.model.sequenceForms.join(", ")})`);
  }
}

/** Shifted causal LM cross-entropy: logits[:, :-1] predict labels[:, 1:], ignoring -100. */
export function shiftedLoss(logits: SymTensor, labels: SymTensor): SymTensor {
  const length = logits.dim(1);
  return crossEntropy(logits.slice(1, 0, length - 1), labels.slice(1, 1, length), { ignoreIndex: -100 });
}

function checkChunkSize(size: number): number {
  if (!Number.isInteger(size) || size < 1) throw new DenseSSMError(`chunk size must be a positive integer, got ${size}`);
  return size;
}

function isModelConfig(config: object): config is ModelConfig {
  return typeof (config as ModelConfig).family === "string" && typeof (config as ModelConfig).toJSON === "function" && typeof (config as ModelConfig).vocabSize === "number";
}

function releaseDevice(session: Session, state: Readonly<Record<string, Feed>>): void {
  for (const t of Object.values(state)) if (!(t instanceof Tensor)) session.backend.release(t);
}

