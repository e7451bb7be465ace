import { FormatError, GraphDecoder, Tensor, type CausalLM, type Decoder, type ForwardMode, type Graph, type Rng, type Session } from "@densessm/core";
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
    const stateNames = Array.from({ length: this.configuration.numLayers }, (_, i) => stateName(i));
    const prefill = await session.runOnDevice(runner.recurrentGraph(batch, len), { input_ids: Tensor.int32(prompts.flat(), [batch, len]), ...runner.recurrentFeeds(0, len), ...runner.initialStates(batch) });
    return new GraphDecoder({
      session,
      stepGraph: runner.recurrentGraph(batch, 1),
      stateNames,
      positionFeeds: (position) => runner.recurrentFeeds(position, 1),
      logits: prefill.get("logits")!,
      state: Object.fromEntries(stateNames.map((name) => [name, prefill.get(name)!])),
      position: len,
    });
  }

  save(dir: string): Promise<void> {
    return saveCheckpoint(dir, this.config, this.module);
  }
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
