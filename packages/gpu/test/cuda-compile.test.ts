// Every kernel's CUDA source compiles for sm_80 and sm_90, so a syntax or type error in the CUDA
// emitter fails CI. The specializations are the ones the GPU executor makes for the conformance
// suite, both official fixtures in every mode, decoding with the draw on the device, and the
// kernel paths small shapes do not reach; every kernel defined in the package must be among them.
// nvcc when the machine has it, else NVRTC unpacked by .ci/cuda-compiler. Without either the check
// cannot run: it says so loudly and is skipped (never counted as passed); on CI it fails instead.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { CausalLM, conformanceSuite, ops, Parameter, quantizeWeight, Session, trace } from "@densessm/core";
import { fusionConformance } from "@densessm/fusion";
import "@densessm/mamba"; // registers the families of the fixtures
import { retentionConformance } from "@densessm/retnet";
import { describe, expect, it } from "vitest";
import { allPrograms, definedKernels, InterpreterBackend } from "../src/index.js";
import { findCudaCompiler } from "./cuda-compiler.js";
import { feedsOf, graphOf, randn } from "./helpers.js";

const compiler = await findCudaCompiler();
const ARCHES = ["sm_80", "sm_90"];

/** Makes every specialization a model run needs, by running it on the interpreter (checks off: fast). */
async function specializeEverything(): Promise<void> {
  const plain = new Session(new InterpreterBackend({ debug: false }));
  for (const c of [...conformanceSuite(), ...retentionConformance(), ...fusionConformance()]) await c.run(plain);
  const models = fileURLToPath(new URL("../../../models/", import.meta.url));
  const ids = (dir: string) => (JSON.parse(readFileSync(`${models}${dir}/case.json`, "utf8")) as { input_ids: number[][] }).input_ids;
  for (const [lm, input] of [[await CausalLM.fromPretrained(`${models}mamba-tiny`), ids("mamba-tiny")], [await CausalLM.fromPretrained(`${models}dense-gau-retnet-tiny`), ids("dense-gau-retnet-tiny")]] as const) {
    for (const mode of ["parallel", "chunkwise", "recurrent"] as const) await lm.logits(plain, input, mode);
    const decoder = await lm.startDecoding(plain, [[1], [2]]);
    await decoder.step([...(await decoder.sample({ temperature: 0.8, topK: 5, topP: 0.9, uniforms: Float32Array.from([0.2, 0.7]) }))], { uniforms: new Float32Array(2) });
    decoder.dispose();
  }
  // Paths small shapes do not reach: the workgroup matrix-vector form, long reductions and scans,
  // tiled products, and float16 weights in both product forms.
  const workgroup = new Session(new InterpreterBackend({ debug: false, matvec: "workgroup" }));
  const x = randn([2, 3, 40]);
  const w = randn([30, 40]);
  await workgroup.run(graphOf(([a, b]) => a!.matmul(b!.transpose()), [x, w]), feedsOf([x, w]));
  const long = randn([2, 300]);
  await plain.run(graphOf(([a]) => a!.sum(1).add(a!.max(1)), [long]), feedsOf([long]));
  await plain.run(graphOf(([a]) => ops.scan(a!, a!, { axis: 1 }), [long]), feedsOf([long]));
  const half = new Session(new InterpreterBackend({ debug: false, weights: "f16" }));
  const p = new Parameter(w);
  half.setParameters([["w", p]]);
  for (const rows of [3, 40]) {
    const input = randn([rows, 40]);
    await half.run(trace((v) => ({ y: ops.linear(v.x!, p) }), { inputs: { x: { shape: input.shape } }, parameters: [["w", p]] }), { x: input });
  }
  await plain.run(graphOf(([a]) => a!.cast("float16").cast("bfloat16").cast("int32"), [long]), feedsOf([long]));
  // Tensor-core products (bf16 and TF32 inputs), both B layouts.
  const tall = randn([20, 40]);
  for (const matmul of ["bf16", "tf32"] as const) {
    const tensorCores = new Session(new InterpreterBackend({ debug: false, matmul }));
    await tensorCores.run(graphOf(([a, b]) => a!.matmul(b!.transpose()).add(a!.matmul(b!.transpose().transpose().transpose())), [tall, w]), feedsOf([tall, w]));
  }
  // Quantized weights: a quantized fixture (byte gather, both products, dequantize), the workgroup
  // matrix-vector form for both formats, and a byte output computed widened (packed back).
  const quantized = await CausalLM.fromPretrained(`${models}dense-gau-retnet-tiny`);
  quantized.quantize({ bits: 4, groupSize: 32 });
  await quantized.logits(plain, ids("dense-gau-retnet-tiny"), "parallel");
  for (const q of [{ bits: 8 as const, groupSize: 40 }, { bits: 4 as const, groupSize: 32 }]) {
    const { codes, scale } = quantizeWeight(w, q);
    const inputs = [randn([2, 40]), codes, scale.to("float32")];
    await workgroup.run(graphOf(([a, c, s]) => ops.quantizedMatmul(a!, c!, s!, { ...q, cols: 40 }), inputs), feedsOf(inputs));
    await plain.run(graphOf(([c]) => c!.slice(1, 0, 3), [codes]), feedsOf([codes]));
  }
}

if (!compiler) {
  const problem = "CUDA COMPILE CHECK NOT RUN: no nvcc and no NVRTC here (run `bash .ci/cuda-compiler` to unpack Debian's NVRTC)";
  if (process.env.CI) throw new Error(problem);
  console.warn(`\n!!! ${problem}; the kernels' CUDA sources were not compiled !!!\n`);
}

describe.skipIf(!compiler)(`CUDA sources compile (${compiler?.description ?? "no compiler"})`, () => {
  it(`every kernel's specializations compile for ${ARCHES.join(" and ")}`, { timeout: 600_000 }, async () => {
    await specializeEverything();
    const programs = allPrograms();
    const covered = new Set(programs.map((p) => p.name));
    expect(definedKernels().filter((name) => !covered.has(name))).toEqual([]);
    // One translation unit: each kernel's source is self-contained and they share no names.
    const sources = [...new Set(programs.map((p) => p.cuda))];
    const unit = sources.join("\n");
    console.log(`CUDA compile check: ${sources.length} kernel specializations (${covered.size} kernels) with ${compiler!.description}`);
    for (const arch of ARCHES) expect(compiler!.compile(unit, arch), `${arch} with ${compiler!.description}`).toBe("");
  });

  it("the check fails on a broken kernel (it is not vacuous)", () => {
    expect(compiler!.compile('extern "C" __global__ void broken(float* y) { y[0] = undeclared_value; }', "sm_80")).toMatch(/undeclared_value/);
  });
});
