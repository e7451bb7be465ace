import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

// The official fixtures through the real CLI (`densessm forward --backend onnx`), every mode, in
// one subprocess per run exactly as a user types it.
const root = resolve(import.meta.dirname, "../../..");
const run = promisify(execFile);

const FIXTURES = [
  { dir: "models/mamba-tiny", modes: ["parallel", "chunkwise", "recurrent"] },
  { dir: "models/dense-gau-retnet-tiny", modes: ["parallel", "chunkwise", "recurrent"] },
];

describe("official fixtures on --backend onnx", () => {
  for (const { dir, modes } of FIXTURES) {
    for (const mode of modes) {
      it(`${dir} ${mode} matches the reference logits to 1e-4`, async () => {
        expect(existsSync(resolve(root, dir, "case.json")), `fixture ${dir} is missing`).toBe(true);
        const args = ["--conditions=@densessm/source", "--import", "tsx", "apps/cli/src/bin.ts", "forward", "--model", dir, "--ids", `${dir}/ids.json`, "--mode", mode, "--backend", "onnx", "--reference", `${dir}/case.json`, "--json"];
        const { stdout } = await run(process.execPath, args, { cwd: root, timeout: 120_000 });
        const result = JSON.parse(stdout) as { backend: string; maxAbsErrorVsReference: number };
        expect(result.backend).toBe("onnx");
        expect(result.maxAbsErrorVsReference).toBeLessThanOrEqual(1e-4);
      }, 120_000);
    }
  }
});
