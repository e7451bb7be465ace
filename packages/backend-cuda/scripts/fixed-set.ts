// The fixed kernel set: the kernel specializations the shipped PTX holds, so that a user with only
// the NVIDIA driver (no NVRTC) runs these workloads. Kernels are specialized on shapes, so the set
// is defined by workloads, and anything else (another model size, batch, sequence length or prompt
// length) needs NVRTC at run time. Collected by running (or, for the larger graphs, compiling)
// each workload on the CUDA backend over the mock driver, which asks the kernel loader for exactly
// the specializations a GPU would.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { adamwUpdateGraph, CausalLM, conformanceSuite, gradName, presetConfig, type Graph, type Session } from "@densessm/core";
import { fusionConformance } from "@densessm/fusion";
import "@densessm/mamba";
import { retentionConformance } from "@densessm/retnet";
import type { CudaBackendOptions } from "../src/index.js";

export interface Workload {
  readonly name: string;
  /**
   * Whether its kernels must really run (the conformance cases check their results); otherwise it
   * runs dry: every launch is checked and none computed, which finds the same kernels much faster.
   */
  readonly execute?: boolean;
  /** The backend's options, where they choose kernels (`matmul: "bf16"` asks for the tensor-core products). */
  readonly backend?: Pick<CudaBackendOptions, "matmul">;
  run(session: Session): Promise<void>;
}

const models = fileURLToPath(new URL("../../../models/", import.meta.url));
const fixtureIds = (dir: string) => (JSON.parse(readFileSync(`${models}${dir}/case.json`, "utf8")) as { input_ids: number[][] }).input_ids;

/** Compiles a graph (every kernel it needs is requested) without running it. */
const compileOnly = (session: Session, graph: Graph) => session.compile(graph).then(() => undefined);

/** A model's training step as lm's train() runs it: the training graph, the AdamW update graph (with clipping), the validation loss graph. */
export async function trainingStep(session: Session, lm: CausalLM, batch: number, length: number): Promise<void> {
  const graph = lm.trainGraph(batch, length);
  await compileOnly(session, graph);
  const trained = lm.module.namedParameters().filter(([name]) => graph.outputs.some((o) => o.name === gradName(name)));
  const update = adamwUpdateGraph(trained.map(([name, p]) => ({ name, shape: p.shape, decay: p.value.rank >= 2 })), { betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.1, clip: 1 });
  await compileOnly(session, update);
  await compileOnly(session, lm.lossGraph(batch, length));
}

/** Decoding at batch `batch`: prompts of 1..`prompts` tokens (one prefill chunk each), then steps with greedy and sampled draws. */
export async function decoding(session: Session, lm: CausalLM, batch: number, prompts: number): Promise<void> {
  for (let n = 1; n <= prompts; n++) await compileOnly(session, lm.chunkGraph(batch, n));
  lm.bind(session);
  const decoder = await lm.startDecoding(session, Array.from({ length: batch }, () => [1]));
  const uniforms = new Float32Array(batch).fill(0.5);
  let next = await decoder.step(Array(batch).fill(1), { uniforms });
  next = await decoder.step([...next], { temperature: 0.8, topK: 40, uniforms });
  await decoder.step([...next], { temperature: 0.8, topK: 40, topP: 0.9, uniforms });
  decoder.dispose();
}

export const FIXED_WORKLOADS: readonly Workload[] = [
  {
    name: "core's conformance suite and the retention and fusion suites",
    execute: true,
    async run(session) {
      for (const c of [...conformanceSuite(session.backend.capabilities), ...retentionConformance(), ...fusionConformance()]) await c.run(session);
    },
  },
  {
    name: "both official fixtures (models/) in every forward form, with decoding",
    async run(session) {
      for (const dir of ["mamba-tiny", "dense-gau-retnet-tiny"]) {
        const ids = fixtureIds(dir);
        for (const options of [{}, { chunkSize: 4 }]) {
          const lm = await CausalLM.fromPretrained(`${models}${dir}`, options);
          for (const mode of ["parallel", "chunkwise", "recurrent"] as const) await lm.logits(session, ids, mode);
        }
        const lm = await CausalLM.fromPretrained(`${models}${dir}`);
        const decoder = await lm.startDecoding(session, ids.map((row) => row.slice(0, 3)));
        const next = await decoder.step([1, 2], { uniforms: Float32Array.of(0.2, 0.7) });
        await decoder.step([...next], { temperature: 0.8, topK: 5, topP: 0.9, uniforms: Float32Array.of(0.2, 0.7) });
        decoder.dispose();
      }
    },
  },
  {
    name: "`densessm train`'s default run (dense-retnet-small, vocabulary 1024, 8 × 256 tokens): training step, AdamW update, validation; its closing sample (batch 1, prompts of up to 8 tokens)",
    async run(session) {
      const lm = CausalLM.fromConfig(presetConfig("dense-retnet-small", 1024));
      await trainingStep(session, lm, 8, 256);
      await decoding(session, lm, 1, 8);
    },
  },
  {
    name: "the same training step with `--dtype bf16` (the tensor-core products; decoding's products have too few rows to use them)",
    backend: { matmul: "bf16" },
    async run(session) {
      await trainingStep(session, CausalLM.fromConfig(presetConfig("dense-retnet-small", 1024)), 8, 256);
    },
  },
];
