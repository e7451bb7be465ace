import { FormatError, Tensor, type CausalLM, type Decoder, type Feed, type ForwardMode, type Graph, type Rng, type Session } from "@densessm/core";
import { DenseGauRetNetConfig } from "./config.js";
import { loadWeights, readConfigJSON, saveCheckpoint } from "./checkpoint.js";
import { DenseGauRetNetForCausalLM } from "./dense-gau-retnet.js";
import { denseGauDecays } from "./positions.js";
import { RetentionRunner, stateName, type RetentionLanguageModel } from "./runner.js";

interface RetentionConfig {
  readonly numLayers: number;
  readonly numHeads: number;
  readonly keyDim: number;
  readonly headDim: number;
  readonly vocabSize: number;
  toJSON(): Record<string, unknown>;
}

/**
 * What DenseGAU-RetNet and RetNet share as causal LMs: the graph runner for the three forms,
 * the training loss, incremental decoding and checkpoints (core's `CausalLM` contract).
 */
export abstract class RetentionCausalLM<M extends RetentionLanguageModel> implements CausalLM {
  readonly modes = ["parallel", "recurrent", "chunkwise"] as const;
  abstract readonly family: string;
  readonly runner: RetentionRunner;
  /** Chunk size used by `logits(..., "chunkwise")`. */
  chunkSize = 64;

  constructor(
    readonly module: M,
    readonly configuration: RetentionConfig,
  ) {
    this.module.eval();
    this.runner = new RetentionRunner(module, {
      numLayers: configuration.numLayers,
      numHeads: configuration.numHeads,
      keyDim: configuration.keyDim,
      headDim: configuration.headDim,
      gammas: denseGauDecays(configuration.numHeads),
    });
  }

  get config(): Record<string, unknown> {
    return this.configuration.toJSON();
  }

  get vocabSize(): number {
    return this.configuration.vocabSize;
  }

  logits(session: Session, ids: readonly (readonly number[])[], mode: ForwardMode): Promise<Tensor> {
    return this.runner.logits(session, ids, mode, { chunkSize: this.chunkSize });
  }

  lossGraph(batch: number, length: number): Graph {
    return this.runner.lossGraph(batch, length);
  }

  /**
   * Prefills the prompts with the multi-token recurrent graph (one scan over the prompt, so the
   * state it hands over is exactly the recurrent form's), then decodes one token per step.
   */
  async startDecoding(session: Session, prompts: readonly (readonly number[])[]): Promise<Decoder> {
    const batch = prompts.length;
    const len = prompts[0]?.length ?? 0;
    if (batch === 0 || len === 0 || prompts.some((p) => p.length !== len)) throw new FormatError("startDecoding: prompts must be non-empty rows of equal length");
    const { runner } = this;
    session.setParameters(this.module.namedParameters());
    const layers = this.configuration.numLayers;
    // The recurrent state stays on the backend between steps (on a GPU it never leaves it); only
    // the logits are read back.
    const run = async (ids: Tensor, start: number, states: Record<string, Feed>) => {
      const out = await session.runOnDevice(runner.recurrentGraph(batch, ids.shape[1]!), { input_ids: ids, ...runner.recurrentFeeds(start, ids.shape[1]!), ...states });
      const next: Record<string, Feed> = {};
      for (let i = 0; i < layers; i++) next[stateName(i)] = out.get(stateName(i))!;
      for (const t of Object.values(states)) if (!(t instanceof Tensor)) session.backend.release(t);
      const logits = await session.backend.download(out.get("logits")!);
      session.backend.release(out.get("logits")!);
      return { logits: lastPosition(logits), states: next };
    };
    let position = len;
    let current = await run(Tensor.int32(prompts.flat(), [batch, len]), 0, runner.initialStates(batch));
    return {
      get logits() {
        return current.logits;
      },
      async step(tokens) {
        if (tokens.length !== batch) throw new FormatError(`step: expected ${batch} tokens (one per row), got ${tokens.length}`);
        current = await run(Tensor.int32(tokens, [batch, 1]), position, current.states);
        position++;
        return current.logits;
      },
    };
  }

  save(dir: string): Promise<void> {
    return saveCheckpoint(dir, this.config, this.module);
  }
}

/** Logits [B, V] of the last position of [B, L, V]. */
function lastPosition(logits: Tensor): Tensor {
  const [b, l, v] = logits.shape as [number, number, number];
  const src = logits.toFloat32();
  const out = new Float32Array(b * v);
  for (let i = 0; i < b; i++) out.set(src.subarray((i * l + l - 1) * v, (i * l + l) * v), i * v);
  return new Tensor(out, [b, v], "float32");
}

/**
 * DenseGAU-RetNet as a causal LM.
 *
 *     const lm = await DenseGauRetNet.fromPretrained(dir);
 *     const logits = await lm.logits(session, [[1, 2, 3]], "recurrent");
 */
export class DenseGauRetNet extends RetentionCausalLM<DenseGauRetNetForCausalLM> {
  readonly family = "dense-gau-retnet";

  constructor(config: DenseGauRetNetConfig, options: { rng?: Rng } = {}) {
    super(new DenseGauRetNetForCausalLM(config, options.rng), config);
  }

  static async fromPretrained(dir: string): Promise<DenseGauRetNet> {
    const config = DenseGauRetNetConfig.fromJSON(await readConfigJSON(dir));
    const lm = new DenseGauRetNet(config);
    await loadWeights(lm.module, dir, { tiedNames: config.tieWordEmbeddings ? ["lm_head.weight"] : [] });
    return lm;
  }
}

/** Which architecture a config.json describes. */
export function detectArchitecture(json: Record<string, unknown>): "dense-gau-retnet" | "retnet" {
  const type = String(json.model_type ?? "").toLowerCase();
  const archs = Array.isArray(json.architectures) ? json.architectures.map(String) : [];
  if (type === "densegauretnet" || type === "dense_gau_retnet" || "query_key_dim" in json) return "dense-gau-retnet";
  if (type === "retnet" || type === "denseretnet" || archs.some((a) => /RetNet/i.test(a))) return "retnet";
  throw new FormatError(`config.json: cannot tell the architecture (model_type ${JSON.stringify(json.model_type)}); expected a DenseGAU-RetNet (query_key_dim, v_factor) or a RetNet config`);
}

/** Loads any retention LM folder this package supports. */
export async function loadCausalLM(dir: string): Promise<CausalLM> {
  const json = await readConfigJSON(dir);
  if (detectArchitecture(json) === "dense-gau-retnet") return DenseGauRetNet.fromPretrained(dir);
  const { RetNet } = await import("./retnet-lm.js");
  return RetNet.fromPretrained(dir);
}
