import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { CpuBackend } from "@densessm/backend-cpu";
import { blobSource, CausalLM, parseSafetensors, serializeSafetensors, Session, Tensor, urlSource, type FileProgress } from "@densessm/core";
import { afterAll, describe, expect, it } from "vitest";
import { loadPretrained, LanguageModel, type LoadProgress } from "../src/index.js";

const models = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "models");
const session = new Session(new CpuBackend());
const temps: string[] = [];
afterAll(async () => {
  for (const d of temps) await rm(d, { recursive: true, force: true });
});

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

/** The files of a shipped model folder plus a tokenizer. */
async function folder(name: string): Promise<Map<string, Uint8Array>> {
  const dir = join(models, name);
  const files = new Map<string, Uint8Array>();
  for (const file of await readdir(dir)) files.set(file, new Uint8Array(await readFile(join(dir, file))));
  files.set("tokenizer.json", new TextEncoder().encode(tokenizerJson));
  return files;
}

async function onDisk(files: Map<string, Uint8Array>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "densessm-pretrained-"));
  temps.push(dir);
  for (const [name, bytes] of files) await writeFile(join(dir, name), bytes);
  return dir;
}

const blobs = (files: Map<string, Uint8Array>, prefix = "") => [...files].map(([name, bytes]) => ({ name: `${prefix}${name}`, arrayBuffer: async () => bytes.slice().buffer }));

describe("one loader for a folder, a URL and picked files", () => {
  it.each(["dense-gau-retnet-tiny", "mamba-tiny"])("%s loads to the same logits from every source, with byte progress from a URL", async (name) => {
    const files = await folder(name);
    const ids = JSON.parse(await readFile(join(models, name, "ids.json"), "utf8")) as number[][];
    const events: FileProgress[] = [];
    const fromUrl = await loadPretrained("http://models.test/tiny", { fetch: fakeFetch(files), onProgress: (e) => events.push(e) });
    const fromDisk = await loadPretrained(await onDisk(files));
    const fromBlobs = await loadPretrained(blobs(files, `${name}/`));
    const reference = (await fromDisk.lm.logits(session, ids, "parallel")).toFloat32();
    for (const { lm, tokenizer } of [fromUrl, fromBlobs]) {
      expect(tokenizer.vocabSize).toBe(10);
      expect((await lm.logits(session, ids, "parallel")).toFloat32()).toEqual(reference);
    }
    const size = files.get("model.safetensors")!.length;
    const weights = events.filter((e) => e.file === "model.safetensors");
    expect(weights[0]).toEqual({ status: "initiate", file: "model.safetensors" });
    expect(weights.at(-1)).toEqual({ status: "done", file: "model.safetensors", loaded: size });
    expect(weights.some((e) => e.status === "progress" && e.loaded > 0 && e.loaded < size && e.total === size)).toBe(true);
  });

  it("reads a sharded checkpoint through its index, and ignores a checkpoint's optimizer state", async () => {
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
    files.set("optimizer.safetensors", serializeSafetensors([["exp_avg.x", Tensor.zeros([2])]]));
    const { lm } = await loadPretrained(urlSource("http://models.test/tiny/", { fetch: fakeFetch(files) }));
    expect([...lm.stateDict().keys()].sort()).toEqual([...new Set([...tensors.keys(), "lm_head.weight"])].sort());
  });

  it("names what a folder lacks, wherever it comes from", async () => {
    const files = await folder("dense-gau-retnet-tiny");
    files.delete("tokenizer.json");
    await expect(loadPretrained("http://models.test/tiny/", { fetch: fakeFetch(files) })).rejects.toThrow(/^http:\/\/models\.test\/tiny\/: no usable tokenizer beside the model \(http:\/\/models\.test\/tiny\/: no tokenizer\.json or tokenizer\.model found\)/);
    files.set("tokenizer.json", new TextEncoder().encode(tokenizerJson));
    files.delete("model.safetensors");
    await expect(loadPretrained(blobSource(blobs(files), "my-model"))).rejects.toThrow(/^my-model: no weights \(looked for model\.safetensors\.index\.json, model\.safetensors, pytorch_model\.bin\.index\.json, pytorch_model\.bin\)$/);
    await expect(loadPretrained(blobSource([], "empty"))).rejects.toThrow(/^empty: no config\.json/);
    files.set("config.json", new TextEncoder().encode("null"));
    await expect(loadPretrained(blobSource(blobs(files), "my-model"))).rejects.toThrow(/^my-model\/config\.json: expected a JSON object, got null$/);
  });

  it("fills in a tied head stored only as the embedding, and rejects a tokenizer larger than the model", async () => {
    const config = { ...(JSON.parse(await readFile(join(models, "dense-gau-retnet-tiny", "config.json"), "utf8")) as Record<string, unknown>), tie_word_embeddings: true };
    const source = CausalLM.fromConfig(config, { seed: 7 });
    const weights = source.stateDict();
    weights.delete("lm_head.weight");
    const files = new Map([
      ["config.json", new TextEncoder().encode(JSON.stringify(config))],
      ["model.safetensors", serializeSafetensors(weights)],
      ["tokenizer.json", new TextEncoder().encode(tokenizerJson)],
    ]);
    const { lm } = await loadPretrained(blobs(files));
    const ids = [[1, 2, 3, 4]];
    expect((await lm.logits(session, ids, "parallel")).toFloat32()).toEqual((await source.logits(session, ids, "parallel")).toFloat32());
    const small = { ...config, vocab_size: 5, tie_word_embeddings: false };
    files.set("config.json", new TextEncoder().encode(JSON.stringify(small)));
    files.set("model.safetensors", serializeSafetensors(CausalLM.fromConfig(small).stateDict()));
    await expect(loadPretrained(blobSource(blobs(files), "small"))).rejects.toThrow(/^small: the tokenizer has 10 tokens but the model's vocabulary is 5/);
  });

  it("LanguageModel.fromPretrained reports each file, then the backend it is ready on", async () => {
    const events: LoadProgress[] = [];
    const model = await LanguageModel.fromPretrained(await onDisk(await folder("mamba-tiny")), { backend: "cpu", onProgress: (e) => events.push(e) });
    expect(events.filter((e) => e.status === "done").map((e) => (e as { file: string }).file)).toEqual(expect.arrayContaining(["config.json", "model.safetensors", "tokenizer.json"]));
    expect(events.at(-1)).toEqual({ status: "ready", model: "mamba", backend: "cpu" });
    expect(model.lm.family).toBe("mamba");
  });
});
