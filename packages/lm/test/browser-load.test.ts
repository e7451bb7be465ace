import { readdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { CpuBackend } from "@densessm/backend-cpu";
import { parseSafetensors, Session, serializeSafetensors, Tensor } from "@densessm/core";
import { describe, expect, it } from "vitest";
import { createModel, fetchModel, loadModel, loadModelFromFiles, readModelFiles, type FetchProgress } from "../src/index.js";

const models = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "models");
const session = new Session(new CpuBackend());

/** A character tokenizer.json small enough for the official tiny checkpoints (which ship none). */
const tokenizerJson = JSON.stringify({
  added_tokens: [{ id: 0, content: "<unk>", special: true }],
  model: { type: "BPE", unk_token: "<unk>", vocab: Object.fromEntries(["<unk>", ..."abcdefgh "].map((t, id) => [t, id])), merges: [] },
});

/** A fetch serving `files` (name → bytes) under http://models.test/tiny/, 404 for anything else. */
function fakeFetch(files: Map<string, Uint8Array>): typeof fetch {
  return (async (input: string | URL | Request) => {
    const url = new URL(String(input));
    const bytes = url.pathname.startsWith("/tiny/") ? files.get(url.pathname.slice("/tiny/".length)) : undefined;
    if (!bytes) return new Response("not found", { status: 404 });
    // Two chunks, so progress is reported part way.
    const half = Math.floor(bytes.length / 2);
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.slice(0, half));
        controller.enqueue(bytes.slice(half));
        controller.close();
      },
    });
    return new Response(body, { headers: { "content-length": String(bytes.length) } });
  }) as typeof fetch;
}

async function folder(name: string): Promise<Map<string, Uint8Array>> {
  const dir = join(models, name);
  const files = new Map<string, Uint8Array>();
  for (const file of await readdir(dir)) files.set(file, new Uint8Array(await readFile(join(dir, file))));
  files.set("tokenizer.json", new TextEncoder().encode(tokenizerJson));
  return files;
}

describe("browser loading", () => {
  it.each(["dense-gau-retnet-tiny", "mamba-tiny"])("fetchModel + loadModelFromFiles give %s the same logits as the Node loader", async (name) => {
    const events: FetchProgress[] = [];
    const files = await fetchModel("http://models.test/tiny", { fetch: fakeFetch(await folder(name)), onProgress: (e) => events.push(e) });
    const { lm, tokenizer } = loadModelFromFiles(files, name);
    expect(tokenizer.vocabSize).toBe(10);
    const ids = JSON.parse(await readFile(join(models, name, "ids.json"), "utf8")) as number[][];
    const reference = await loadModel(join(models, name));
    const [a, b] = [await lm.logits(session, ids, "parallel"), await reference.logits(session, ids, "parallel")];
    expect(a.toFloat32()).toEqual(b.toFloat32());
    const size = (await readFile(join(models, name, "model.safetensors"))).length;
    const weights = events.filter((e) => e.file === "model.safetensors");
    expect(weights.at(-1)).toEqual({ file: "model.safetensors", loaded: size, total: size });
    expect(weights.some((e) => e.loaded > 0 && e.loaded < size)).toBe(true);
  });

  it("reads a sharded checkpoint through its index", async () => {
    const files = await folder("mamba-tiny");
    const { tensors } = parseSafetensors(files.get("model.safetensors")!);
    const entries = [...tensors];
    const shards = [entries.slice(0, 3), entries.slice(3)];
    files.delete("model.safetensors");
    const weightMap: Record<string, string> = {};
    shards.forEach((shard, i) => {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      files.set(file, serializeSafetensors(shard));
      for (const [n] of shard) weightMap[n] = file;
    });
    files.set("model.safetensors.index.json", new TextEncoder().encode(JSON.stringify({ weight_map: weightMap })));
    const loaded = await fetchModel("http://models.test/tiny/", { fetch: fakeFetch(files) });
    expect([...loaded.weights.keys()].sort()).toEqual([...tensors.keys()].sort());
  });

  it("names what a folder lacks", async () => {
    const files = await folder("dense-gau-retnet-tiny");
    files.delete("tokenizer.json");
    await expect(fetchModel("http://models.test/tiny/", { fetch: fakeFetch(files) })).rejects.toThrow(/no tokenizer\.json \(HTTP 404\); a model folder needs config\.json, model\.safetensors/);
    const picked = [...files].map(([name, bytes]) => ({ name, arrayBuffer: async () => bytes.slice().buffer }));
    await expect(readModelFiles(picked, "my-model")).rejects.toThrow(/^my-model: missing tokenizer\.json;/);
    // A training checkpoint's optimizer state is not part of the model.
    files.set("tokenizer.json", new TextEncoder().encode(tokenizerJson));
    files.set("optimizer.safetensors", serializeSafetensors([["exp_avg.x", Tensor.zeros([2])]]));
    const blobs = [...files].map(([name, bytes]) => ({ name: `my-model/${name}`, arrayBuffer: async () => bytes.slice().buffer }));
    const { lm } = loadModelFromFiles(await readModelFiles(blobs), "my-model");
    expect(lm.vocabSize).toBe(97);
    await expect(readModelFiles([], "empty")).rejects.toThrow("empty: missing config.json, tokenizer.json, model.safetensors");
  });

  it("fills in a tied head stored only as the embedding, and rejects a tokenizer larger than the model", async () => {
    const config = { ...(JSON.parse(await readFile(join(models, "dense-gau-retnet-tiny", "config.json"), "utf8")) as Record<string, unknown>), tie_word_embeddings: true };
    const source = createModel(config, 7);
    const weights = source.module.stateDict();
    weights.delete("lm_head.weight");
    const { lm } = loadModelFromFiles({ config, weights, tokenizerJson });
    const ids = [[1, 2, 3, 4]];
    expect((await lm.logits(session, ids, "parallel")).toFloat32()).toEqual((await source.logits(session, ids, "parallel")).toFloat32());
    const small = { ...config, vocab_size: 5, tie_word_embeddings: false };
    const smallWeights = createModel(small).module.stateDict();
    expect(() => loadModelFromFiles({ config: small, weights: smallWeights, tokenizerJson }, "small")).toThrow(/small: the tokenizer has 10 tokens but the model's vocabulary is 5/);
  });
});
