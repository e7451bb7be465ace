// What the official code writes: `torch.save(model.state_dict())` of DenseGAU-RetNet, f16 weights
// plus the persistent RetNetRelPos buffers (models/dense-gau-retnet-official-bin, with the
// official code's float64 logits and how close its own float32 run gets to them).
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CpuBackend } from "@densessm/backend-cpu";
import { CausalLM, folderSource, FormatError, readWeights, Session, Tensor, writeTorchCheckpoint } from "@densessm/core";
import { afterAll, describe, expect, it } from "vitest";
import "../src/index.js";
import { maxAbsDiff } from "./helpers.js";

const OFFICIAL = fileURLToPath(new URL("../../../models/dense-gau-retnet-official-bin", import.meta.url));
const TINY = fileURLToPath(new URL("../../../models/dense-gau-retnet-tiny", import.meta.url));
interface OfficialCase {
  input_ids: number[][];
  logits_parallel_f64: number[][][];
  logits_recurrent_f64: number[][][];
  official_f32_err_parallel: number;
  official_f32_err_recurrent: number;
}
const officialCase = async () => JSON.parse(await readFile(join(OFFICIAL, "case.json"), "utf8")) as OfficialCase;

const temps: string[] = [];
afterAll(async () => {
  for (const d of temps) await rm(d, { recursive: true, force: true });
});
async function folderWith(tensors: Map<string, Tensor>, config?: Record<string, unknown>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "retnet-bin-"));
  temps.push(dir);
  await writeTorchCheckpoint(join(dir, "pytorch_model.bin"), tensors);
  if (config) await writeFile(join(dir, "config.json"), JSON.stringify(config));
  else await copyFile(join(OFFICIAL, "config.json"), join(dir, "config.json"));
  return dir;
}

describe("the official DenseGAU-RetNet pytorch_model.bin (f16, with rel-pos buffers)", () => {
  const session = new Session(new CpuBackend());

  it.each(["parallel", "chunkwise", "recurrent"] as const)("matches the official float64 logits in %s form as closely as the official float32 code does, or within 1e-4", async (mode) => {
    const c = await officialCase();
    const lm = await CausalLM.fromPretrained(OFFICIAL);
    lm.chunkSize = 4;
    const ref = mode === "recurrent" ? c.logits_recurrent_f64 : c.logits_parallel_f64;
    const officialErr = mode === "recurrent" ? c.official_f32_err_recurrent : c.official_f32_err_parallel;
    const err = maxAbsDiff(await lm.logits(session, c.input_ids, mode), ref.flat(2));
    expect(err).toBeLessThanOrEqual(Math.max(officialErr, 1e-4));
  });

  it("refuses buffers that disagree with the config, naming the tensor and the largest difference", async () => {
    const tensors = await readWeights(folderSource(OFFICIAL));
    const decay = tensors.get("model.retnet_rel_pos.decay")!.toFloat32().slice();
    decay[1] = -0.5;
    tensors.set("model.retnet_rel_pos.decay", Tensor.float32(decay));
    const err = (await CausalLM.fromPretrained(await folderWith(tensors)).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(FormatError);
    expect(err.message).toMatch(/pytorch_model\.bin: tensor "model\.retnet_rel_pos\.decay" differs from the values the config implies: largest difference 0\.484 at index 1/);

    tensors.set("model.retnet_rel_pos.decay", Tensor.float32([0, 0, 0]));
    await expect(CausalLM.fromPretrained(await folderWith(tensors))).rejects.toThrow(/"model\.retnet_rel_pos\.decay" has shape \[3\], the config implies \[2\]/);
  });

  it("accepts the buffers in f16 too (a model.half() checkpoint), and checkpoints without them", async () => {
    const tensors = await readWeights(folderSource(OFFICIAL));
    for (const name of ["model.retnet_rel_pos.angle", "model.retnet_rel_pos.decay"]) tensors.set(name, tensors.get(name)!.to("float16"));
    await expect(CausalLM.fromPretrained(await folderWith(tensors))).resolves.toBeInstanceOf(CausalLM);
    tensors.delete("model.retnet_rel_pos.angle");
    tensors.delete("model.retnet_rel_pos.decay");
    await expect(CausalLM.fromPretrained(await folderWith(tensors))).resolves.toBeInstanceOf(CausalLM);
  });

  it("writes the buffers on save, with the official code's values", async () => {
    const lm = await CausalLM.fromPretrained(OFFICIAL);
    const official = await readWeights(folderSource(OFFICIAL));
    const ours = lm.stateDict();
    for (const name of ["model.retnet_rel_pos.angle", "model.retnet_rel_pos.decay"]) {
      expect(ours.get(name)!.dtype).toBe("float32");
      expect(maxAbsDiff(ours.get(name)!, official.get(name)!.toFloat32())).toBeLessThanOrEqual(1e-7);
    }
  });
});

describe("configs that do not belong to the weights fail before anything big is built", () => {
  const config = async () => JSON.parse(await readFile(join(TINY, "config.json"), "utf8")) as Record<string, unknown>;
  const tiny = async (overrides: Record<string, unknown>) => {
    const dir = await mkdtemp(join(tmpdir(), "retnet-config-"));
    temps.push(dir);
    await copyFile(join(TINY, "model.safetensors"), join(dir, "model.safetensors"));
    await writeFile(join(dir, "config.json"), JSON.stringify({ ...(await config()), ...overrides }));
    return dir;
  };
  const rssGrowth = async (run: () => Promise<unknown>) => {
    const before = process.memoryUsage().rss;
    const error = (await run().catch((e: unknown) => e)) as Error;
    return { error, grew: process.memoryUsage().rss - before };
  };

  it("hidden_size 4096 with the 400 KB tiny checkpoint: a shape error from the headers, no gigabytes", async () => {
    const dir = await tiny({ hidden_size: 4096 });
    const { error, grew } = await rssGrowth(() => CausalLM.fromPretrained(dir));
    expect(error).toBeInstanceOf(FormatError);
    expect(error.message).toMatch(/config\.json does not fit .*model\.safetensors:\n {2}"model\.embed_tokens\.weight" is \[97, 64\] in the weights, \[97, 4096\] by the config/);
    expect(grew).toBeLessThan(200 * 2 ** 20);
  });

  it.each([
    [{ hidden_size: 1e9 }, /config\.json: "hidden_size" 1000000000 is larger than any model this library builds \(at most 65536\)/],
    [{ num_hidden_layers: 1e6 }, /config\.json: "num_hidden_layers" 1000000 is larger than any model this library builds/],
    [{ query_key_dim: undefined }, /config\.json: "query_key_dim" is missing \(DenseGAU-RetNet needs it\)/],
  ])("%j is refused at once, naming the key", async (overrides, message) => {
    const started = performance.now();
    const { error } = await rssGrowth(async () => CausalLM.fromPretrained(await tiny(overrides)));
    expect(error).toBeInstanceOf(FormatError);
    expect(error.message).toMatch(message);
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it("a config with 300 layers lists 20 problems, then how many more", async () => {
    const { error } = await rssGrowth(async () => CausalLM.fromPretrained(await tiny({ num_hidden_layers: 300 })));
    const lines = error.message.split("\n");
    expect(lines.length).toBeLessThanOrEqual(23);
    expect(error.message).toMatch(/\.\.\. and \d+ more$/);
  });

  it("NaN in the weights is an error naming the tensor; allowNonFinite loads it anyway", async () => {
    const tensors = await readWeights(folderSource(TINY));
    const w = tensors.get("model.norm.weight")!.toFloat32().slice();
    w[3] = Number.NaN;
    tensors.set("model.norm.weight", Tensor.float32(w));
    const dir = await folderWith(tensors, await config());
    await expect(CausalLM.fromPretrained(dir)).rejects.toThrow(/pytorch_model\.bin: tensor "model\.norm\.weight" \[64\] holds 1 non-finite value \(the first, at index 3, is NaN\)/);
    await expect(CausalLM.fromPretrained(dir, { allowNonFinite: true })).resolves.toBeInstanceOf(CausalLM);
  });
});
