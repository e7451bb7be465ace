// Loading the released DenseGAU-RetNet 350M layout (synthetic random weights, 1.49 GB in float32)
// from safetensors, pytorch_model.bin and a sharded .bin: seconds to a loaded model and the peak
// resident memory of the process, each in a fresh child process. The baseline, measured in the
// same run, is the naive loader: read every weight file whole into memory (fs.readFile), nothing else.
//
//   pnpm --filter @densessm/lm bench
import { execFileSync } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeSynthetic350M, type SyntheticFormat } from "../test/released-350m.js";

if (process.argv[2] === "--child") {
  const [, , , what, dir] = process.argv;
  const started = performance.now();
  if (what === "readFile") {
    const { readFile } = await import("node:fs/promises");
    const held = [];
    for (const f of await readdir(dir!)) if (/\.(bin|safetensors)$/.test(f)) held.push(await readFile(join(dir!, f)));
  } else {
    const { CausalLM } = await import("@densessm/core");
    await import("../src/families.js");
    await CausalLM.fromPretrained(dir!);
  }
  console.log(JSON.stringify({ seconds: (performance.now() - started) / 1000, peakMiB: process.resourceUsage().maxRSS / 1024 }));
  process.exit(0);
}

const self = fileURLToPath(import.meta.url);
const measure = (what: string, dir: string) => JSON.parse(execFileSync(process.execPath, ["--conditions=@densessm/source", "--import", "tsx", self, "--child", what, dir], { encoding: "utf8" })) as { seconds: number; peakMiB: number };

console.log(`loading the 350M layout (373,277,184 parameters, 1424 MiB of float32) on ${cpus()[0]?.model ?? "?"} ×${cpus().length}, load average ${loadavg()[0]!.toFixed(1)}`);
const root = await mkdtemp(join(tmpdir(), "densessm-load-bench-"));
try {
  for (const format of ["safetensors", "bin", "sharded-bin"] as SyntheticFormat[]) {
    const dir = join(root, format);
    await writeSynthetic350M(dir, format);
    const naive = measure("readFile", dir);
    const ours = measure("load", dir);
    console.log(
      `${format.padEnd(12)} ours ${ours.seconds.toFixed(1)} s, peak ${ours.peakMiB.toFixed(0)} MiB (${(ours.peakMiB / 1424).toFixed(2)}× the weights) | readFile baseline ${naive.seconds.toFixed(1)} s, peak ${naive.peakMiB.toFixed(0)} MiB | ratio ours/baseline: time ${(ours.seconds / naive.seconds).toFixed(2)}, memory ${(ours.peakMiB / naive.peakMiB).toFixed(2)}`,
    );
    await rm(dir, { recursive: true, force: true });
  }
} finally {
  await rm(root, { recursive: true, force: true });
}
