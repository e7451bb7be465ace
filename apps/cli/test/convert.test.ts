// `densessm convert` writes a clean Hugging Face folder. Where Debian's python3-torch is installed,
// models/reference/check_load.py proves the official layout loads it with strict=True and gives
// the reference logits; where it is not, one loud line says so and no test claims to have passed.
import { spawnSync } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CausalLM, folderSource, readWeights } from "@densessm/core";
import { afterAll, describe, expect, it } from "vitest";
import { cli } from "./helpers.js";

const models = fileURLToPath(new URL("../../../models/", import.meta.url));
const PYTHON = "/usr/bin/python3";
const hasTorch = spawnSync(PYTHON, ["-c", "import torch"], { stdio: "ignore" }).status === 0;
if (!hasTorch) console.warn("!!! NOT RUN: the check that `densessm convert` output loads in the official layout with strict=True needs Debian's python3-torch (apt-get install python3-torch) !!!");

const temps: string[] = [];
afterAll(async () => {
  for (const d of temps) await rm(d, { recursive: true, force: true });
});
async function outDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "densessm-convert-"));
  temps.push(d);
  return join(d, "out");
}

/** Runs check_load.py on a folder: strict load plus logits against the case's float64 reference. */
function officialLoad(folder: string, caseFile: string, tolerance = 1e-4): { ok: boolean; line: string } {
  const r = spawnSync(PYTHON, [join(models, "reference", "check_load.py"), folder, join(models, caseFile), String(tolerance)], { encoding: "utf8" });
  return { ok: r.status === 0, line: `${r.stdout}${r.stderr}`.trim() };
}

describe("densessm convert", () => {
  it("turns the official f16 .bin into config.json + model.safetensors (with the rel-pos buffers) + tokenizer files", async () => {
    const source = await mkdtemp(join(tmpdir(), "densessm-convert-src-"));
    temps.push(source);
    for (const f of ["config.json", "pytorch_model.bin"]) await writeFile(join(source, f), await readFile(join(models, "dense-gau-retnet-official-bin", f)));
    await writeFile(join(source, "tokenizer_config.json"), JSON.stringify({ add_bos_token: true }));
    const out = await outDir();
    const r = await cli("convert", "--model", source, "--out", out, "--json");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ family: "dense-gau-retnet", dtype: "float32", files: ["config.json", "model.safetensors", "tokenizer_config.json"] });
    expect((await readdir(out)).sort()).toEqual(["config.json", "model.safetensors", "tokenizer_config.json"]);
    const weights = await readWeights(folderSource(out));
    expect(weights.has("model.retnet_rel_pos.angle")).toBe(true);
    expect(weights.get("lm_head.weight")!.dtype).toBe("float32");
    expect(JSON.parse(await readFile(join(out, "config.json"), "utf8")).torch_dtype).toBe("float32");
    const original = await CausalLM.fromPretrained(join(models, "dense-gau-retnet-official-bin"));
    const converted = await CausalLM.fromPretrained(out);
    for (const [name, t] of original.stateDict()) expect(converted.stateDict().get(name)!.data, name).toEqual(t.data);
  });

  it("writes f16 and bf16, and shards above --max-shard-size", async () => {
    const out = await outDir();
    expect((await cli("convert", "--model", join(models, "dense-gau-retnet-official-bin"), "--out", out, "--dtype", "bf16", "--max-shard-size", "0.00005")).code).toBe(0);
    const files = await readdir(out);
    expect(files).toContain("model.safetensors.index.json");
    expect(files.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f)).length).toBeGreaterThan(1);
    expect((await readWeights(folderSource(out))).get("model.embed_tokens.weight")!.dtype).toBe("bfloat16");
    const f16 = await outDir();
    expect((await cli("convert", "--model", join(models, "mamba-tiny-bin"), "--out", f16, "--dtype", "f16")).code).toBe(0);
    expect((await readWeights(folderSource(f16))).get("lm_head.weight")!.dtype).toBe("float16");
    expect(JSON.parse(await readFile(join(f16, "config.json"), "utf8"))).not.toHaveProperty("torch_dtype"); // state-spaces configs have none
  });

  it("names a model it cannot read, in one line", async () => {
    const r = await cli("convert", "--model", join(models, "nope"), "--out", await outDir());
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^densessm: .*nope is neither a model folder/);
  });

  if (hasTorch) {
    it("output loads in the official layout with strict=True and gives the reference logits (python3-torch)", async () => {
      const retnet = await outDir();
      expect((await cli("convert", "--model", join(models, "dense-gau-retnet-official-bin"), "--out", retnet)).code).toBe(0);
      const a = officialLoad(retnet, "dense-gau-retnet-official-bin/case.json");
      expect(a.ok, a.line).toBe(true);
      const sharded = await outDir();
      expect((await cli("convert", "--model", join(models, "dense-gau-retnet-official-bin"), "--out", sharded, "--dtype", "f16", "--max-shard-size", "0.00005")).code).toBe(0);
      const b = officialLoad(sharded, "dense-gau-retnet-official-bin/case.json");
      expect(b.ok, b.line).toBe(true);
      const mamba = await outDir();
      expect((await cli("convert", "--model", join(models, "mamba-tiny-bin"), "--out", mamba)).code).toBe(0);
      const c = officialLoad(mamba, "reference/mamba-f32-logits.json", 1e-9);
      expect(c.ok, c.line).toBe(true);
      // The check itself refuses a folder without the buffers (what we wrote before this issue).
      expect(officialLoad(join(models, "dense-gau-retnet-tiny"), "dense-gau-retnet-tiny/case.json").line).toMatch(/Missing key\(s\) in state_dict: "model\.retnet_rel_pos\.angle"/);
    });
  }
});
