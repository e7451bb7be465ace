import { CpuBackend } from "@densessm/backend-cpu";
import { CausalLM, Session } from "@densessm/core";
import "@densessm/mamba"; // registers the families the fixtures belong to
import "@densessm/retnet";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { decodeModel, exportOnnx, loadNodeRuntime, loadWebRuntime, OnnxBackend, type ExportResult, type OrtRuntime } from "../src/index.js";

// Exports each official fixture, then drives prefill.onnx + decode.onnx with a transformers.js-style
// loop (int64 input_ids and position_ids, past_* in, present_* out) on onnxruntime-node and on
// onnxruntime-web's WebAssembly build under Node, and checks every position's logits against
// backend-cpu running the checkpoint directly.

const root = resolve(import.meta.dirname, "../../..");
const PREFILL = 4;

async function generateLogits(ort: OrtRuntime, dir: string, spec: ExportResult, ids: readonly number[]): Promise<Float32Array[]> {
  const options = { executionProviders: [...ort.executionProviders], logSeverityLevel: 4 as const };
  const prefill = await ort.InferenceSession.create(readFileSync(join(dir, "prefill.onnx")), options);
  const decode = await ort.InferenceSession.create(readFileSync(join(dir, "decode.onnx")), options);
  const rows: Float32Array[] = [];
  let past: Record<string, unknown> = Object.fromEntries(spec.states.map((s) => [s.past, new ort.Tensor("float32", new Float32Array(s.shape.reduce((n, d) => n * d, 1)), s.shape)]));
  const step = async (session: typeof prefill, start: number, len: number) => {
    const feeds: Record<string, unknown> = { input_ids: new ort.Tensor("int64", BigInt64Array.from(ids.slice(start, start + len).map(BigInt)), [1, len]), ...past };
    if (spec.positionIds) feeds.position_ids = new ort.Tensor("int64", BigInt64Array.from({ length: len }, (_, i) => BigInt(start + i)), [1, len]);
    const out = await session.run(feeds as Parameters<typeof session.run>[0]);
    const logits = out.logits!.data as Float32Array;
    const vocab = logits.length / len;
    for (let t = 0; t < len; t++) rows.push(logits.slice(t * vocab, (t + 1) * vocab));
    past = Object.fromEntries(spec.states.map((s) => [s.past, out[s.present]!]));
  };
  await step(prefill, 0, PREFILL);
  for (let t = PREFILL; t < ids.length; t++) await step(decode, t, 1);
  await prefill.release();
  await decode.release();
  return rows;
}

const FIXTURES = [
  { name: "mamba-tiny", past: /^past_(conv|ssm)\.\d+$/ },
  { name: "dense-gau-retnet-tiny", past: /^past_retention\.\d+$/ },
];

describe("exportOnnx: prefill + decode models", () => {
  for (const fixture of FIXTURES) {
    const modelDir = join(root, "models", fixture.name);
    const outDir = mkdtempSync(join(tmpdir(), `densessm-export-${fixture.name}-`));
    const exported = exportOnnx({ modelDir, outDir, prefillLength: PREFILL });
    const reference = (async () => {
      const lm = await CausalLM.fromPretrained(modelDir);
      const ids = (JSON.parse(readFileSync(join(modelDir, "ids.json"), "utf8")) as number[][])[0]!;
      const session = new Session(new CpuBackend());
      lm.bind(session);
      const logits = (await lm.logits(session, [ids], "recurrent")).toFloat32();
      return { ids, logits, vocab: logits.length / ids.length };
    })();

    it(`${fixture.name}: writes transformers.js-style state names, config and interface`, async () => {
      const spec = await exported;
      expect(spec.states.length).toBeGreaterThan(0);
      for (const s of spec.states) {
        expect(s.past).toMatch(fixture.past);
        expect(s.present).toBe(s.past.replace("past_", "present_"));
      }
      expect(spec.files).toEqual(expect.arrayContaining(["prefill.onnx", "decode.onnx", "config.json", "densessm-onnx.json"]));
    });

    for (const [runtimeName, load] of [["onnxruntime-node", loadNodeRuntime], ["onnxruntime-web (wasm)", () => loadWebRuntime()]] as const) {
      it(`${fixture.name}: logits on ${runtimeName} match backend-cpu to 1e-4`, async () => {
        const [spec, ref, ort] = await Promise.all([exported, reference, load()]);
        const rows = await generateLogits(ort, outDir, spec, ref.ids);
        expect(rows.length).toBe(ref.ids.length);
        let worst = 0;
        rows.forEach((row, t) => {
          expect(row.length).toBe(ref.vocab);
          row.forEach((v, k) => (worst = Math.max(worst, Math.abs(v - ref.logits[t * ref.vocab + k]!))));
        });
        expect(worst).toBeLessThanOrEqual(1e-4);
      }, 60_000);
    }
  }
});

describe("exportOnnx: a quantized model", () => {
  it("exports MatMulNBits with the codes stored once, and the exported models agree with the backend", async () => {
    const modelDir = join(root, "models", "mamba-tiny");
    const ids = (JSON.parse(readFileSync(join(modelDir, "ids.json"), "utf8")) as number[][])[0]!;
    const lm = await CausalLM.fromPretrained(modelDir);
    lm.quantize({ bits: 4, groupSize: 32 });
    const outDir = mkdtempSync(join(tmpdir(), "densessm-export-quantized-"));
    const spec = await exportOnnx({ model: lm, outDir, prefillLength: PREFILL });
    const decode = decodeModel(readFileSync(join(outDir, "decode.onnx"))) as { graph: { node: { op_type: string }[]; initializer: { name: string }[] } };
    expect(decode.graph.node.filter((n) => n.op_type === "MatMulNBits").length).toBe(7); // in_proj, x_proj, out_proj x 2 layers, lm_head
    expect(decode.graph.initializer.map((t) => t.name)).not.toContain("backbone.layers.0.mixer.in_proj.weight");
    for (const runtime of [await loadNodeRuntime(), await loadWebRuntime()]) {
      const session = new Session(new OnnxBackend(runtime));
      const reference = (await lm.logits(session, [ids], "recurrent")).toFloat32();
      const rows = await generateLogits(runtime, outDir, spec, ids);
      let worst = 0;
      rows.forEach((row, t) => row.forEach((v, k) => (worst = Math.max(worst, Math.abs(v - reference[t * row.length + k]!)))));
      expect(worst, runtime.label).toBeLessThanOrEqual(1e-4);
    }
  }, 60_000);
});

describe("exportOnnx: weights as external data", () => {
  it("moves the weights to model.onnx_data, and the models load from their folder and agree", async () => {
    const modelDir = join(root, "models", "mamba-tiny");
    const externalDir = mkdtempSync(join(tmpdir(), "densessm-export-external-"));
    const inlineDir = mkdtempSync(join(tmpdir(), "densessm-export-inline-"));
    const external = await exportOnnx({ modelDir, outDir: externalDir, prefillLength: PREFILL, externalDataThreshold: 0 });
    await exportOnnx({ modelDir, outDir: inlineDir, prefillLength: PREFILL });
    expect(external.files).toContain("model.onnx_data");
    expect(statSync(join(externalDir, "prefill.onnx")).size).toBeLessThan(statSync(join(inlineDir, "prefill.onnx")).size / 2);

    const ort = await import("onnxruntime-node");
    const prefillLogits = async (dir: string) => {
      // Created from a path, so onnxruntime resolves model.onnx_data beside the model.
      const session = await ort.InferenceSession.create(join(dir, "prefill.onnx"), { executionProviders: ["cpu"], logSeverityLevel: 4 });
      const feeds: Record<string, unknown> = { input_ids: new ort.Tensor("int64", BigInt64Array.from([5n, 17n, 3n, 42n]), [1, PREFILL]) };
      for (const s of external.states) feeds[s.past] = new ort.Tensor("float32", new Float32Array(s.shape.reduce((n, d) => n * d, 1)), s.shape);
      const out = await session.run(feeds as Parameters<typeof session.run>[0]);
      await session.release();
      return out.logits!.data as Float32Array;
    };
    expect(Array.from(await prefillLogits(externalDir))).toEqual(Array.from(await prefillLogits(inlineDir)));
  });
});
