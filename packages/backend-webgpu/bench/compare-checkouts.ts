/**
 * Decode speed of this package at two checkouts of the repository, in one process: each
 * checkout's core, model packages and backend-webgpu are imported from its own sources and share
 * one Dawn instance (through navigator.gpu); decoding steps of the same small models alternate
 * A, B, B, A, ... so machine load hits both alike. For before/after figures of a change to the
 * kernels or the executor, on a busy machine where separate runs differ by more than the change:
 *
 *   git worktree add /tmp/base <commit> && (cd /tmp/base && pnpm install --frozen-lockfile)
 *   node --conditions=@densessm/source --import tsx bench/compare-checkouts.ts /tmp/base ../..
 *
 * Prints tok/s per checkout and B/A per model and batch. BENCH_STEPS sets the interleaved steps.
 */
import { resolve } from "node:path";

const [baseRoot, newRoot] = process.argv.slice(2, 4).map((p) => resolve(p));
if (!baseRoot || !newRoot) throw new Error("usage: compare-checkouts.ts <checkout A> <checkout B>");
const STEPS = Number(process.env.BENCH_STEPS ?? 16);

process.env.VK_ICD_FILENAMES ??= "/usr/lib/chromium/vk_swiftshader_icd.json";
const dawn = (await import(`${newRoot}/packages/backend-webgpu/node_modules/webgpu/index.js`)) as { create(flags: string[]): unknown };
Object.defineProperty(globalThis, "navigator", { value: { gpu: dawn.create([]) }, configurable: true });

interface Decoding {
  step(tokens: number[], draw: { vocabSize: number; uniforms: Float32Array }): Promise<Int32Array | number[]>;
  sample(draw: { vocabSize: number; uniforms: Float32Array }): Promise<Int32Array | number[]>;
  dispose(): void;
}
type Model = { startDecoding(session: unknown, prompts: number[][]): Promise<Decoding> };

/** One checkout's backend, session and models (same seed, same shapes on both sides). */
async function checkout(root: string) {
  const core = await import(`${root}/packages/core/src/index.ts`);
  const webgpu = await import(`${root}/packages/backend-webgpu/src/index.ts`);
  const mamba = await import(`${root}/packages/mamba/src/index.ts`);
  const retnet = await import(`${root}/packages/retnet/src/index.ts`);
  const backend = await webgpu.WebGpuBackend.create();
  const session = new core.Session(backend);
  core.manualSeed(1);
  const retnetConfig = retnet.RetNetConfig.fromJSON({ decoder_embed_dim: 256, decoder_retention_heads: 2, decoder_layers: 4, vocab_size: 4096, dense_block_layers: 2 });
  const mambaShape = { dModel: 256, nLayer: 4, vocabSize: 4096 };
  // Checkouts from before core's model-family contract (CausalLM.fromConfig) build models directly.
  const models: Record<string, Model> = core.CausalLM?.fromConfig
    ? { DenseRetNet: core.CausalLM.fromConfig(retnetConfig), Mamba: core.CausalLM.fromConfig(new mamba.MambaConfig(mambaShape)) }
    : { DenseRetNet: new retnet.RetNet(retnetConfig), Mamba: mamba.MambaForCausalLM.create(mambaShape) };
  return { adapter: backend.adapterInfo as string, session, models };
}

const sides = [await checkout(baseRoot), await checkout(newRoot)];
console.log(`A: ${baseRoot}\nB: ${newRoot}\nadapter: ${sides[1]!.adapter}; small shape; ${STEPS} interleaved steps per row after 2 warm-up steps\n`);
console.log("| model | batch | A tok/s | B tok/s | B / A |");
console.log("| --- | --- | --- | --- | --- |");
for (const name of ["DenseRetNet", "Mamba"]) {
  for (const batch of [1, 8]) {
    const draw = { vocabSize: 4096, uniforms: new Float32Array(batch) };
    const state = await Promise.all(
      sides.map(async (side) => {
        const decoder = await side.models[name]!.startDecoding(side.session, Array.from({ length: batch }, (_, b) => [b + 1]));
        let tokens = await decoder.sample(draw);
        for (let i = 0; i < 2; i++) tokens = await decoder.step([...tokens], draw);
        return { decoder, tokens, seconds: 0 };
      }),
    );
    for (let i = 0; i < STEPS; i++) {
      for (const s of i % 2 ? [...state].reverse() : state) {
        const t0 = performance.now();
        s.tokens = await s.decoder.step([...s.tokens], draw);
        s.seconds += (performance.now() - t0) / 1000;
      }
    }
    const [a, b] = state.map((s) => (STEPS * batch) / s.seconds) as [number, number];
    console.log(`| ${name} | ${batch} | ${a.toFixed(2)} | ${b.toFixed(2)} | ${(b / a).toFixed(3)} |`);
    for (const s of state) s.decoder.dispose();
  }
}
