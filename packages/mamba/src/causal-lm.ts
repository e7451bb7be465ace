import {
  DenseSSMError,
  FormatError,
  GraphDecoder,
  gradients,
  ops,
  readSafetensorsFolder,
  Rng,
  Tensor,
  trace,
  writeFileAtomic,
  writeSafetensorsFolder,
  type CausalLM,
  type Decoder,
  type Feed,
  type ForwardMode,
  type Graph,
  type Session,
  type SymTensor,
} from "@densessm/core";
import { toStateSpacesLayout } from "./checkpoint.js";
import { MambaConfig, type MambaConfigOptions } from "./config.js";
import type { LayerState } from "./mixer.js";
import { MambaLMHeadModel } from "./model.js";

/** Host copies of every layer's recurrent state (conv [B, E, d_conv], ssm [B, E, N]). */
export interface RecurrentState {
  readonly conv: Tensor[];
  readonly ssm: Tensor[];
}

const convName = (l: number) => `conv_state.${l}`;
const ssmName = (l: number) => `ssm_state.${l}`;

/**
 * Mamba / DenseMamba for causal language modelling: graphs (traced once per shape and cached),
 * the three forward modes, decoding state, the training loss, and checkpoints.
 *
 *   const model = await MambaForCausalLM.fromPretrained(dir);
 *   const session = await Session.create("cpu");
 *   const logits = await model.logits(session, [[1, 2, 3]], "parallel");
 */
export class MambaForCausalLM implements CausalLM {
  readonly modes = ["parallel", "recurrent", "chunkwise"] as const;
  readonly module: MambaLMHeadModel;
  private readonly graphs = new Map<string, Graph>();
  private readonly bound = new WeakSet<Session>();

  constructor(readonly config: MambaConfig, rng: Rng = new Rng(0)) {
    this.module = new MambaLMHeadModel(config, rng);
  }

  get family(): string {
    return this.config.dense ? "dense-mamba" : "mamba";
  }

  /** The tokenizer's vocabulary; logits are `paddedVocabSize` wide, as the official model returns them. */
  get vocabSize(): number {
    return this.config.vocabSize;
  }

  /**
   * Prefills the prompts chunk by chunk, then decodes one token per step. Between steps the conv
   * and SSM states stay on the backend (on a GPU they never leave it).
   */
  async startDecoding(session: Session, prompts: readonly (readonly number[])[]): Promise<Decoder> {
    const first = await this.prefill(session, prompts.map((p) => [...p]));
    const layers = Array.from({ length: this.config.nLayer }, (_, l) => l);
    const state: Record<string, Feed> = {};
    for (const l of layers) {
      state[convName(l)] = first.state.conv[l]!;
      state[ssmName(l)] = first.state.ssm[l]!;
    }
    return new GraphDecoder({
      session,
      stepGraph: this.chunkGraph(prompts.length, 1),
      stateNames: Object.keys(state),
      logits: first.logits,
      state,
      position: first.logits.shape[1]!,
    });
  }

  /** A freshly initialised model (official initialisation) from a config or its options. */
  static create(config: MambaConfig | MambaConfigOptions, options: { seed?: number } = {}): MambaForCausalLM {
    return new MambaForCausalLM(config instanceof MambaConfig ? config : new MambaConfig(config), new Rng(options.seed ?? 0));
  }

  /**
   * Loads config.json (state-spaces or transformers form) and the safetensors weights (either
   * layout, single file or sharded) from a folder. `configOverrides` changes options (e.g.
   * scanChunkSize; or `dense` with `keepMissingDense` to turn a Mamba checkpoint into a DenseMamba
   * that starts out computing exactly that Mamba).
   */
  static async fromPretrained(dir: string, options: { configOverrides?: Partial<MambaConfigOptions>; keepMissingDense?: boolean; seed?: number } = {}): Promise<MambaForCausalLM> {
    const { readFile } = await import("node:fs/promises");
    const { join } = await import("node:path");
    let json: unknown;
    const configPath = join(dir, "config.json");
    try {
      json = JSON.parse(await readFile(configPath, "utf8"));
    } catch (e) {
      throw new FormatError(`${configPath}: cannot read config (${(e as Error).message})`);
    }
    let config = MambaConfig.fromJSON(json);
    if (options.configOverrides) config = config.with(options.configOverrides);
    const model = new MambaForCausalLM(config, new Rng(options.seed ?? 0));
    model.loadStateDict(await readSafetensorsFolder(dir), { keepMissingDense: options.keepMissingDense ?? false });
    return model;
  }

  /**
   * Loads weights in either layout (see checkpoint.ts); every missing, extra or mis-shaped tensor
   * is reported at once. With `keepMissingDense`, a DenseMamba may load a plain Mamba checkpoint:
   * its fusion parameters (`...mixer.dense_transitions.*`) keep their current values, which with
   * the default zero gate init makes the result compute exactly the loaded Mamba.
   */
  loadStateDict(tensors: ReadonlyMap<string, Tensor>, options: { keepMissingDense?: boolean } = {}): void {
    const dict = toStateSpacesLayout(tensors, this.config);
    if (options.keepMissingDense) {
      for (const [name, p] of this.module.allNamedParameters()) if (name.includes(".dense_transitions.") && !dict.has(name)) dict.set(name, p.value);
    }
    this.module.loadStateDict(dict);
  }

  /** The state-spaces layout; a tied head is written under both names, as the official state_dict has it. */
  stateDict(): Map<string, Tensor> {
    return this.module.stateDict();
  }

  /** Writes config.json (state-spaces form, plus `dense` for DenseMamba) and model.safetensors. */
  async save(dir: string): Promise<void> {
    const { join } = await import("node:path");
    await writeSafetensorsFolder(dir, this.stateDict());
    await writeFileAtomic(join(dir, "config.json"), `${JSON.stringify(this.config.toJSON(), null, 2)}\n`);
  }

  // ---- graphs ----

  private cached(key: string, build: () => Graph): Graph {
    let g = this.graphs.get(key);
    if (!g) {
      g = build();
      this.graphs.set(key, g);
    }
    return g;
  }

  private stateInputs(batch: number): Record<string, { shape: number[] }> {
    const { dInner, dConv, dState, nLayer } = this.config;
    const spec: Record<string, { shape: number[] }> = {};
    for (let l = 0; l < nLayer; l++) {
      spec[convName(l)] = { shape: [batch, dInner, dConv] };
      spec[ssmName(l)] = { shape: [batch, dInner, dState] };
    }
    return spec;
  }

  /** ids [B, L] → logits [B, L, V]: the full-sequence form (scan streamed in chunks of config.scanChunkSize). */
  parallelGraph(batch: number, length: number): Graph {
    return this.cached(`parallel:${batch}x${length}`, () =>
      trace(({ input_ids }) => ({ logits: this.module.forward(input_ids!).logits }), {
        inputs: { input_ids: { shape: [batch, length], dtype: "int32" } },
        parameters: this.module.namedParameters(),
      }),
    );
  }

  /**
   * ids [B, T] and every layer's `conv_state.l`, `ssm_state.l` → logits [B, T, V] and the states
   * after the chunk (same names). T = 1 is the recurrent step (`Mamba.step`).
   */
  chunkGraph(batch: number, length: number): Graph {
    return this.cached(`chunk:${batch}x${length}`, () =>
      trace(
        (inputs) => {
          const states: LayerState[] = Array.from({ length: this.config.nLayer }, (_, l) => ({ conv: inputs[convName(l)]!, ssm: inputs[ssmName(l)]! }));
          const out = this.module.forwardChunk(inputs.input_ids!, states);
          const result: Record<string, SymTensor> = { logits: out.logits };
          out.states.forEach((s, l) => {
            result[convName(l)] = s.conv;
            result[ssmName(l)] = s.ssm;
          });
          return result;
        },
        {
          inputs: { input_ids: { shape: [batch, length], dtype: "int32" }, ...this.stateInputs(batch) },
          parameters: this.module.namedParameters(),
        },
      ),
    );
  }

  /**
   * The training loss for ids [B, L] and labels [B, L] (int32): mean cross-entropy of logits at
   * position t against labels at t + 1 (the shift inside, as transformers does), ignoring −100.
   * Outputs `loss` and `logits`.
   */
  lossGraph(batch: number, length: number): Graph {
    if (length < 2) throw new DenseSSMError(`lossGraph: a shifted loss needs at least 2 tokens, got ${length}`);
    return this.cached(`loss:${batch}x${length}`, () =>
      trace(
        ({ input_ids, labels }) => {
          const logits = this.module.forward(input_ids!).logits;
          const loss = ops.crossEntropy(logits.slice(1, 0, length - 1), labels!.slice(1, 1), { ignoreIndex: -100 });
          return { loss, logits };
        },
        {
          inputs: { input_ids: { shape: [batch, length], dtype: "int32" }, labels: { shape: [batch, length], dtype: "int32" } },
          parameters: this.module.namedParameters(),
        },
      ),
    );
  }

  /** The loss graph with `grad:<param>` outputs for every parameter (see core's `gradients`). */
  trainGraph(batch: number, length: number): Graph {
    return this.cached(`train:${batch}x${length}`, () => gradients(this.lossGraph(batch, length), { loss: "loss" }));
  }

  // ---- running ----

  /** Binds this model's parameters to the session (once per session; values re-upload when they change). */
  bind(session: Session): void {
    if (this.bound.has(session)) return;
    session.setParameters(this.module.namedParameters());
    this.bound.add(session);
  }

  /** Zero state for a batch: the start of every sequence. */
  initialState(batch: number): RecurrentState {
    const { dInner, dConv, dState, nLayer } = this.config;
    return {
      conv: Array.from({ length: nLayer }, () => Tensor.zeros([batch, dInner, dConv])),
      ssm: Array.from({ length: nLayer }, () => Tensor.zeros([batch, dInner, dState])),
    };
  }

  /** Runs T tokens ids [B][T] from `state`; returns their logits [B, T, V] and the state after them. */
  async runChunk(session: Session, ids: number[][], state: RecurrentState): Promise<{ logits: Tensor; state: RecurrentState }> {
    const [batch, length] = checkIds(ids, this.config.paddedVocabSize);
    this.bind(session);
    const feeds: Record<string, Tensor> = { input_ids: Tensor.int32(ids.flat(), [batch, length]) };
    for (let l = 0; l < this.config.nLayer; l++) {
      feeds[convName(l)] = state.conv[l]!;
      feeds[ssmName(l)] = state.ssm[l]!;
    }
    const out = await session.run(this.chunkGraph(batch, length), feeds);
    const range = Array.from({ length: this.config.nLayer }, (_, l) => l);
    return { logits: out.logits!, state: { conv: range.map((l) => out[convName(l)]!), ssm: range.map((l) => out[ssmName(l)]!) } };
  }

  /** One decoding step: tokens [B] from `state` → logits [B, V] and the next state. */
  async step(session: Session, tokens: number[], state: RecurrentState): Promise<{ logits: Tensor; state: RecurrentState }> {
    const r = await this.runChunk(session, tokens.map((t) => [t]), state);
    return { logits: r.logits.reshape([tokens.length, r.logits.shape[2]!]), state: r.state };
  }

  /** Prefill: runs a prompt chunk by chunk and returns its logits and the state to decode from. */
  async prefill(session: Session, ids: number[][], chunkSize = this.config.scanChunkSize): Promise<{ logits: Tensor; state: RecurrentState }> {
    const [batch, length] = checkIds(ids, this.config.paddedVocabSize);
    let state = this.initialState(batch);
    const parts: Tensor[] = [];
    for (let start = 0; start < length; start += chunkSize) {
      const r = await this.runChunk(session, ids.map((row) => row.slice(start, start + chunkSize)), state);
      parts.push(r.logits);
      state = r.state;
    }
    return { logits: concatTime(parts), state };
  }

  /**
   * Logits [B, L, V] for equal-length rows of ids:
   *  - "parallel": one full-sequence graph (scan streamed over config.scanChunkSize chunks inside it);
   *  - "chunkwise": one chunk graph per config.scanChunkSize tokens, state carried between runs;
   *  - "recurrent": the one-token step graph, token by token from a zero state.
   */
  async logits(session: Session, ids: number[][], mode: ForwardMode): Promise<Tensor> {
    const [batch, length] = checkIds(ids, this.config.paddedVocabSize);
    switch (mode) {
      case "parallel": {
        this.bind(session);
        const out = await session.run(this.parallelGraph(batch, length), { input_ids: Tensor.int32(ids.flat(), [batch, length]) });
        return out.logits!;
      }
      case "chunkwise":
        return (await this.prefill(session, ids)).logits;
      case "recurrent":
        return (await this.prefill(session, ids, 1)).logits;
      default:
        throw new DenseSSMError(`unknown mode ${JSON.stringify(mode)} (expected ${this.modes.join(", ")})`);
    }
  }
}

/** Loads a Mamba or DenseMamba folder behind the CLI's common interface. */
export async function loadCausalLM(dir: string): Promise<CausalLM> {
  return MambaForCausalLM.fromPretrained(dir);
}

function checkIds(ids: number[][], vocab: number): [number, number] {
  if (!Array.isArray(ids) || ids.length === 0 || !Array.isArray(ids[0])) throw new DenseSSMError("ids: expected a non-empty array of token rows");
  const length = ids[0].length;
  if (length === 0) throw new DenseSSMError("ids: rows must not be empty");
  ids.forEach((row, b) => {
    if (row.length !== length) throw new DenseSSMError(`ids: row ${b} has ${row.length} tokens, row 0 has ${length}; rows must have equal length`);
    row.forEach((t, i) => {
      if (!Number.isInteger(t) || t < 0 || t >= vocab) throw new DenseSSMError(`ids: token ${JSON.stringify(t)} at [${b}][${i}] is not in [0, ${vocab})`);
    });
  });
  return [ids.length, length];
}

/** Concatenates [B, T_i, V] host tensors along T. */
function concatTime(parts: Tensor[]): Tensor {
  const [batch, , vocab] = parts[0]!.shape as [number, number, number];
  const total = parts.reduce((n, p) => n + p.shape[1]!, 0);
  const out = new Float32Array(batch * total * vocab);
  let offset = 0;
  for (const p of parts) {
    const t = p.shape[1]!;
    const src = p.toFloat32();
    for (let b = 0; b < batch; b++) out.set(src.subarray(b * t * vocab, (b + 1) * t * vocab), (b * total + offset) * vocab);
    offset += t;
  }
  return new Tensor(out, [batch, total, vocab], "float32");
}
