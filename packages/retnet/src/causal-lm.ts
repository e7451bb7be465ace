import { FormatError, type Module, type Rng, type Session, type Tensor } from "@densessm/core";
import { DenseGauRetNetConfig } from "./config.js";
import { loadWeights, readConfigJSON, saveCheckpoint } from "./checkpoint.js";
import type { RetentionMode } from "./context.js";
import { DenseGauRetNetForCausalLM } from "./dense-gau-retnet.js";
import { denseGauDecays } from "./positions.js";
import { RetentionRunner } from "./runner.js";

/** The interface the CLI drives, shared by every model package. */
export interface CausalLM {
  readonly config: object;
  readonly modes: readonly RetentionMode[];
  logits(session: Session, ids: number[][], mode: RetentionMode): Promise<Tensor>;
  module: Module;
  save(dir: string): Promise<void>;
}

/**
 * DenseGAU-RetNet as a causal LM: the module, its config, and the graph runner for the three forms.
 *
 *     const lm = await DenseGauRetNet.fromPretrained(dir);
 *     const logits = await lm.logits(session, [[1, 2, 3]], "recurrent");
 */
export class DenseGauRetNet implements CausalLM {
  readonly modes = ["parallel", "recurrent", "chunkwise"] as const;
  readonly module: DenseGauRetNetForCausalLM;
  readonly runner: RetentionRunner;
  /** Chunk size used by `logits(..., "chunkwise")`. */
  chunkSize = 64;

  constructor(
    readonly configuration: DenseGauRetNetConfig,
    options: { rng?: Rng } = {},
  ) {
    this.module = new DenseGauRetNetForCausalLM(configuration, options.rng);
    this.module.eval();
    this.runner = new RetentionRunner(this.module, {
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

  static async fromPretrained(dir: string): Promise<DenseGauRetNet> {
    const config = DenseGauRetNetConfig.fromJSON(await readConfigJSON(dir));
    const lm = new DenseGauRetNet(config);
    await loadWeights(lm.module, dir, { tiedNames: config.tieWordEmbeddings ? ["lm_head.weight"] : [] });
    return lm;
  }

  logits(session: Session, ids: number[][], mode: RetentionMode): Promise<Tensor> {
    return this.runner.logits(session, ids, mode, { chunkSize: this.chunkSize });
  }

  save(dir: string): Promise<void> {
    return saveCheckpoint(dir, this.config, this.module);
  }
}

/** Which architecture a config.json describes. */
export function detectArchitecture(json: Record<string, unknown>): "dense-gau-retnet" | "retnet" {
  const type = String(json.model_type ?? "").toLowerCase();
  const archs = Array.isArray(json.architectures) ? json.architectures.map(String) : [];
  if (type === "densegauretnet" || type === "dense_gau_retnet" || "query_key_dim" in json) return "dense-gau-retnet";
  if (type === "retnet" || type === "denseretnet" || "decoder_retention_heads" in json || archs.some((a) => /RetNet/i.test(a))) return "retnet";
  throw new FormatError(`config.json: cannot tell the architecture (model_type ${JSON.stringify(json.model_type)}); expected a DenseGAU-RetNet (query_key_dim, v_factor) or a RetNet config`);
}

/** Loads any retention LM folder this package supports. */
export async function loadCausalLM(dir: string): Promise<CausalLM> {
  const json = await readConfigJSON(dir);
  const arch = detectArchitecture(json);
  if (arch === "dense-gau-retnet") return DenseGauRetNet.fromPretrained(dir);
  const { RetNet } = await import("./retnet-lm.js");
  return RetNet.fromPretrained(dir);
}
