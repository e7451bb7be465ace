// The device check, bundled (device-check/build.ts) into a folder outside the repository and run by
// its run.sh in --mock mode: every phase (conformance, fixtures, the matmul decision, the PyTorch
// reference when this machine has torch, training and decoding throughput) runs end to end on the
// interpreter, and the JSON says what it is. Without a GPU this is all that can run; the numbers
// it writes are the interpreter's.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it, onTestFinished } from "vitest";

const pkg = fileURLToPath(new URL("..", import.meta.url));

describe("the device check", () => {
  it("bundles into one folder that runs end to end on the mock driver", { timeout: 300_000 }, () => {
    const dir = mkdtempSync(join(tmpdir(), "densessm-device-check-"));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const out = join(dir, "check");
    execFileSync(process.execPath, ["--conditions=@densessm/source", "--import", "tsx", "device-check/build.ts", "--out", out, "--no-ptx"], { cwd: pkg, stdio: "pipe" });
    const run = spawnSync(join(out, "run.sh"), ["--mock", "--small", "--dtype", "f32", "--out", join(out, "result.json"), "--budget", "240"], { encoding: "utf8", cwd: tmpdir() });
    expect(run.status, run.stderr).toBe(0);
    const result = JSON.parse(readFileSync(join(out, "result.json"), "utf8")) as { mode: string; phases: Record<string, { status: string; [k: string]: unknown }>; reference: { python?: string } };
    expect(result.mode).toMatch(/^mock/);
    const { conformance, fixtures, matmul, training, decode } = result.phases;
    expect(conformance).toMatchObject({ status: "passed", failures: [] });
    expect(conformance!.cases).toBeGreaterThan(100);
    expect(fixtures!.status).toBe("passed");
    expect((fixtures!.rows as unknown[]).length).toBe(7);
    expect(matmul).toMatchObject({ status: "passed", note: expect.stringMatching(/decide nothing/) });
    expect((matmul!.candidates as unknown[]).length).toBe(3);
    expect((training!.ours as { tokensPerSecond: number }).tokensPerSecond).toBeGreaterThan(0);
    expect((decode!.ours as { tokensPerSecond: number }).tokensPerSecond).toBeGreaterThan(0);
    if (result.reference.python) {
      expect(result.phases["reference-check"]!.status).toBe("passed");
      expect((training!.reference as { ok: boolean }).ok).toBe(true);
      expect(training!.ratio).toBeGreaterThan(0);
    } else console.warn("\n!!! the device check's PyTorch reference was not run: no python with torch here !!!\n");
  });
});
