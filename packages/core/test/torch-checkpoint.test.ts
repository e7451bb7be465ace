// pytorch_model.bin: torch's zip format, read without executing anything. The .bin files in
// test/fixtures/torch were written by torch.save (Debian's python3-torch) or, for the hostile
// ones, crafted by fixtures/torch/make_cases.py; the official tiny models come from ../../models.
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { bytesFile, DenseSSMError, folderSource, FormatError, openTorchCheckpoint, readWeights, Rng, Tensor, writeFileAtomic, writeTorchCheckpoint, type RandomAccessFile } from "../src/index.js";

const fixtures = fileURLToPath(new URL("./fixtures/torch/", import.meta.url));
const models = fileURLToPath(new URL("../../../models/", import.meta.url));
const temps: string[] = [];
afterAll(async () => {
  for (const d of temps) await rm(d, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "torch-bin-"));
  temps.push(d);
  return d;
}

async function load(file: RandomAccessFile): Promise<Map<string, Tensor>> {
  const out = new Map<string, Tensor>();
  await (await openTorchCheckpoint(file)).read((name, t) => out.set(name, t));
  return out;
}
const fixture = async (name: string) => bytesFile(new Uint8Array(await readFile(join(fixtures, name))), name);
const refusal = async (name: string) => ((await load(await fixture(name)).catch((e: unknown) => e)) as Error);

describe("pytorch_model.bin", () => {
  it("reads what torch.save wrote: storage offsets, strides, shared storages, every dtype", async () => {
    const expected = JSON.parse(await readFile(join(fixtures, "views.json"), "utf8")) as Record<string, { shape: number[]; values: number[] }>;
    const tensors = await load(await fixture("views.bin"));
    expect([...tensors.keys()].sort()).toEqual(Object.keys(expected).sort());
    for (const [name, { shape, values }] of Object.entries(expected)) {
      const t = tensors.get(name)!;
      expect(t.shape, name).toEqual(shape);
      expect(Array.from(t.dtype === "int32" ? t.data : t.toFloat32()), name).toEqual(values);
    }
    expect(tensors.get("h")!.dtype).toBe("float16");
    expect(tensors.get("b")!.dtype).toBe("bfloat16");
    expect(tensors.get("ids")!.dtype).toBe("int32");
    expect(tensors.get("mask")!.dtype).toBe("int32");
  });

  it("reads the official DenseGAU-RetNet checkpoint (f16 weights, f32 rel-pos buffers)", async () => {
    const tensors = await readWeights(folderSource(join(models, "dense-gau-retnet-official-bin")));
    expect(tensors.get("model.embed_tokens.weight")!.dtype).toBe("float16");
    expect(tensors.get("model.embed_tokens.weight")!.shape).toEqual([97, 64]);
    expect(tensors.get("model.retnet_rel_pos.angle")!.dtype).toBe("float32");
    expect(tensors.get("model.retnet_rel_pos.decay")!.toFloat32()[0]).toBeCloseTo(Math.log(1 - 2 ** -5), 6);
  });

  it("gives a tied weight stored once (state-spaces Mamba) as one tensor under both names", async () => {
    const tensors = await readWeights(folderSource(join(models, "mamba-tiny-bin")));
    expect(tensors.get("lm_head.weight")).toBe(tensors.get("backbone.embedding.weight"));
  });

  it("writes checkpoints torch reads (see the Python check) and reads them back bit for bit, sharded too", async () => {
    const rng = new Rng(3);
    const w = Tensor.float32(Array.from({ length: 12 }, () => rng.normal()), [3, 4]);
    const tensors = new Map<string, Tensor>([
      ["w", w],
      ["tied", w],
      ["h", w.to("float16")],
      ["b", w.to("bfloat16")],
      ["ids", Tensor.int32([1, -2, 3])],
      ["empty", Tensor.zeros([0, 2])],
    ]);
    const dir = await tempDir();
    await writeTorchCheckpoint(join(dir, "pytorch_model.bin"), tensors);
    const back = await readWeights(folderSource(dir));
    for (const [name, t] of tensors) expect(back.get(name)!.data, name).toEqual(t.data);
    expect(back.get("tied")).toBe(back.get("w"));

    const sharded = await tempDir();
    await writeTorchCheckpoint(join(sharded, "part-1.bin"), [...tensors].slice(0, 3));
    await writeTorchCheckpoint(join(sharded, "part-2.bin"), [...tensors].slice(3));
    const weightMap = Object.fromEntries([...tensors.keys()].map((n, i) => [n, i < 3 ? "part-1.bin" : "part-2.bin"]));
    await writeFileAtomic(join(sharded, "pytorch_model.bin.index.json"), JSON.stringify({ weight_map: weightMap }));
    const fromShards = await readWeights(folderSource(sharded));
    for (const [name, t] of tensors) expect(fromShards.get(name)!.data, name).toEqual(t.data);

    await writeFileAtomic(join(sharded, "pytorch_model.bin.index.json"), JSON.stringify({ weight_map: { ...weightMap, w: "part-2.bin" } }));
    await expect(readWeights(folderSource(sharded))).rejects.toThrow(/pytorch_model\.bin\.index\.json: tensor "w" is in part-1\.bin but the weight_map says part-2\.bin/);
  });
});

describe("bad .bin files: one error naming the file and the problem", () => {
  it("refuses a pickle that references os.system (or any global outside the allowed set)", async () => {
    const e = await refusal("os-system.bin");
    expect(e).toBeInstanceOf(FormatError);
    expect(e.message).toMatch(/^os-system\.bin: os-system\/data\.pkl: the pickle references posix\.system, which a checkpoint may not use/);
  });

  it.each([
    ["short-storage.bin", /tensor "w" \[10\]: needs storage elements up to 9, its storage 0 holds 4/],
    ["short-entry.bin", /tensor "w" \[100\]: its storage 0 claims 100 elements \(400 bytes\), the archive holds 16 bytes/],
    ["overflow.bin", /tensor "w" \[1099511627776, 1099511627776\]: its shape's product overflows/],
    ["missing-storage.bin", /tensor "w": its storage archive\/data\/7 is missing/],
    ["double.bin", /tensor "w" is stored as torch\.DoubleStorage, which is not read/],
    ["compressed.bin", /entry archive\/data\.pkl is compressed \(method 8\)/],
    ["legacy.bin", /a legacy \(torch < 1\.6\) checkpoint, which is not read; re-save it/],
    ["not-tensor.bin", /"w" is a number, not a tensor/],
  ])("%s", async (name, message) => {
    const e = await refusal(name);
    expect(e).toBeInstanceOf(FormatError);
    expect(e.message.startsWith(`${name}: `)).toBe(true);
    expect(e.message).toMatch(message);
    expect(e.message.split("\n")).toHaveLength(1);
  });

  it("refuses every truncation of a real checkpoint without reading past its end", async () => {
    const bytes = new Uint8Array(await readFile(join(models, "mamba-tiny-bin", "pytorch_model.bin")));
    for (const cut of [0, 3, 100, 2000, 50_000, bytes.length - 100, bytes.length - 22, bytes.length - 1]) {
      const e = (await load(bytesFile(bytes.subarray(0, cut), "cut.bin")).catch((x: unknown) => x)) as Error;
      expect(e, `cut at ${cut}`).toBeInstanceOf(FormatError);
      expect(e.message).toMatch(/^cut\.bin: /);
    }
  });

  it("names the file when a folder's pytorch_model.bin is truncated", async () => {
    const dir = await tempDir();
    const bytes = await readFile(join(models, "mamba-tiny-bin", "pytorch_model.bin"));
    await writeFile(join(dir, "pytorch_model.bin"), bytes.subarray(0, bytes.length - 5000));
    await copyFile(join(models, "mamba-tiny-bin", "config.json"), join(dir, "config.json"));
    await expect(readWeights(folderSource(dir))).rejects.toThrow(new RegExp(`^${join(dir, "pytorch_model.bin").replace(/[/.]/g, "\\$&")}: `));
  });

  it("survives random mutations of a real .bin for a bounded time: every outcome is a load or a DenseSSMError", async () => {
    const original = new Uint8Array(await readFile(join(models, "mamba-tiny-bin", "pytorch_model.bin")));
    // The pickle is the first entry's data (after its 30-byte header and name); the directory is at the end.
    const pickleStart = 30 + "pytorch_model/data.pkl".length;
    const pickleEnd = pickleStart + 2223;
    const rng = new Rng(2024);
    const deadline = performance.now() + 4000;
    let runs = 0;
    const outcomes = { loaded: 0, refused: 0 };
    while (performance.now() < deadline) {
      const bytes = original.slice();
      const edits = 1 + rng.int(8);
      for (let k = 0; k < edits; k++) {
        const inDirectory = rng.uniform() < 0.2;
        const at = inDirectory ? bytes.length - 1 - rng.int(1500) : pickleStart + rng.int(pickleEnd - pickleStart);
        bytes[at] = rng.uniform() < 0.5 ? rng.int(256) : [0x80, 0x28, 0x2e, 0x51, 0x52, 0x63, 0x74, 0x75, 0x7d, 0x8a, 0x93, 0xff][rng.int(12)]!;
      }
      const file = rng.uniform() < 0.1 ? bytes.subarray(0, rng.int(bytes.length)) : bytes;
      try {
        await load(bytesFile(file, "fuzz.bin"));
        outcomes.loaded++;
      } catch (e) {
        if (!(e instanceof DenseSSMError)) throw new Error(`mutation run ${runs} threw ${(e as Error).name}: ${(e as Error).message}`);
        expect(e.message.startsWith("fuzz.bin: ")).toBe(true);
        outcomes.refused++;
      }
      runs++;
    }
    console.log(`unpickler fuzz: ${runs} mutated checkpoints in 4 s (${outcomes.loaded} loaded, ${outcomes.refused} refused with a named error)`);
    expect(runs).toBeGreaterThan(100);
    expect(outcomes.refused).toBeGreaterThan(0);
  });
});
