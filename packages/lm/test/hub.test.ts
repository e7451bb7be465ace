// Models by name: a local hub on 127.0.0.1 (see hub-server.ts). fromPretrained("org/name")
// downloads into a cache, resumes a download cut halfway, and then works offline.
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CpuBackend } from "@densessm/backend-cpu";
import { CausalLM, Session, type FileProgress } from "@densessm/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LanguageModel, loadPretrained } from "../src/index.js";
import { models, startTestHub, type TestHub } from "./hub-server.js";

let hub: TestHub;
let hubUrl: string;
const temps: string[] = [];
beforeAll(async () => {
  hub = await startTestHub();
  hubUrl = hub.url;
});
afterAll(async () => {
  await hub.close();
  for (const d of temps) await rm(d, { recursive: true, force: true });
});

async function cacheDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "densessm-cache-"));
  temps.push(d);
  return d;
}

describe("models by name from a hub, with a cache", () => {
  const session = new Session(new CpuBackend());

  it("resumes a download cut halfway, then loads the same model as the folder", async () => {
    const cache = await cacheDir();
    hub.cut.add("model.safetensors");
    hub.hits.length = 0;
    const events: FileProgress[] = [];
    const first = (await LanguageModel.fromPretrained("org/mamba-tiny", { hubUrl, cacheDir: cache, backend: "cpu" }).catch((e: unknown) => e)) as Error;
    expect(first.message).toMatch(/resolve\/main\/model\.safetensors: download interrupted at \d+ (of \d+ )?bytes .*run again to resume/);
    const size = (await stat(join(models, "mamba-tiny", "model.safetensors"))).size;
    const partial = join(cache, "models", "org", "mamba-tiny", "main", "model.safetensors.partial");
    const half = (await stat(partial)).size;
    expect(half).toBeGreaterThan(0);
    expect(half).toBeLessThan(size);

    const model = await LanguageModel.fromPretrained("org/mamba-tiny", { hubUrl, cacheDir: cache, backend: "cpu", onProgress: (e) => e.status !== "ready" && events.push(e) });
    const resumed = hub.hits.filter((h) => h.path.endsWith("/model.safetensors")).at(-1)!;
    expect(resumed).toEqual({ path: "/org/mamba-tiny/resolve/main/model.safetensors", range: `bytes=${half}-`, status: 206 });
    const weights = events.filter((e) => e.file === "model.safetensors");
    expect(weights[0]).toEqual({ status: "initiate", file: "model.safetensors" });
    expect(weights.some((e) => e.status === "progress" && e.loaded === half && e.total === size)).toBe(true);
    expect(weights.at(-1)).toEqual({ status: "done", file: "model.safetensors", loaded: size });

    const files = (await readdir(join(cache, "models", "org", "mamba-tiny", "main"))).sort();
    expect(files).toEqual(["config.json", "model.safetensors", "model.safetensors.index.json.absent", "tokenizer.json", "special_tokens_map.json.absent", "tokenizer_config.json.absent"].sort());
    const ids = JSON.parse(await readFile(join(models, "mamba-tiny", "ids.json"), "utf8")) as number[][];
    const local = await CausalLM.fromPretrained(join(models, "mamba-tiny"));
    expect((await model.lm.logits(session, ids, "parallel")).toFloat32()).toEqual((await local.logits(session, ids, "parallel")).toFloat32());
  });

  it("takes pytorch_model.bin when the hub has no safetensors, and works offline from the cache", async () => {
    const cache = await cacheDir();
    await expect(loadPretrained("org/retnet-bin", { hubUrl, cacheDir: cache, offline: true })).rejects.toThrow(/config\.json: not in the cache .* offline mode is on/);
    const online = await loadPretrained("org/retnet-bin", { hubUrl, cacheDir: cache });
    expect(online.lm.family).toBe("dense-gau-retnet");
    hub.hits.length = 0;
    const offline = await loadPretrained("org/retnet-bin", { hubUrl: "http://127.0.0.1:9", cacheDir: cache, offline: true });
    expect(hub.hits).toEqual([]);
    const ids = [[1, 5, 9, 2]];
    expect((await offline.lm.logits(session, ids, "parallel")).toFloat32()).toEqual((await online.lm.logits(session, ids, "parallel")).toFloat32());
  });

  it("reads a URL's pytorch_model.bin by byte ranges (the whole file is never requested)", async () => {
    hub.hits.length = 0;
    const { lm } = await loadPretrained(`${hubUrl}/org/retnet-bin/resolve/main/`);
    expect(lm.family).toBe("dense-gau-retnet");
    const bin = hub.hits.filter((h) => h.path.endsWith("/pytorch_model.bin"));
    expect(bin.length).toBeGreaterThan(3);
    expect(bin.every((h) => h.status === 206 && /^bytes=\d+-\d+$/.test(h.range ?? ""))).toBe(true);
  });

  it("keeps downloads in a Cache API store where there is one (browsers), and reads it offline", async () => {
    const stored = new Map<string, Response>();
    const cacheStorage = { open: async () => ({ match: async (url: string) => stored.get(url)?.clone(), put: async (url: string, r: Response) => void stored.set(url, r) }) };
    const online = await loadPretrained("org/retnet-bin", { hubUrl, cacheStorage });
    expect([...stored.keys()].map((u) => u.split("/resolve/main/")[1])).toEqual(expect.arrayContaining(["config.json", "pytorch_model.bin", "tokenizer.json", "model.safetensors"]));
    expect(stored.get(`${hubUrl}/org/retnet-bin/resolve/main/model.safetensors`)!.status).toBe(404); // remembered as absent
    hub.hits.length = 0;
    const offline = await loadPretrained("org/retnet-bin", { hubUrl, cacheStorage, offline: true });
    expect(hub.hits).toEqual([]);
    const ids = [[3, 1, 4, 1, 5]];
    expect((await offline.lm.logits(session, ids, "parallel")).toFloat32()).toEqual((await online.lm.logits(session, ids, "parallel")).toFloat32());
  });

  it("names a model the hub does not have", async () => {
    await expect(loadPretrained("org/nothing", { hubUrl, cacheDir: await cacheDir() })).rejects.toThrow(/resolve\/main\/: no config\.json/);
  });
});
