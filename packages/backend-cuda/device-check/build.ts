// Builds the device check into one self-contained folder (default .cache/device-check, git-ignored)
// for a GPU machine without network: check.mjs (this package and its dependencies in one file),
// koffi and its Linux x64 binary, a PTX set of every kernel the check runs (so it needs no NVRTC),
// the fixtures, the PyTorch reference, run.sh, and with --node a gzipped Node binary. At most 60 MiB.
//
//   node --conditions=@densessm/source --import tsx device-check/build.ts [--out dir] [--node] [--no-ptx]
//   <out>/run.sh [--mock] [--small] [--out result.json] [--dtype bf16|f32] ...   (on the GPU machine)
import { chmod, cp, mkdir, readdir, rm, stat, writeFile } from "node:fs/promises";
import { createReadStream, createWriteStream } from "node:fs";
import { dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { createGzip } from "node:zlib";
import { createRequire } from "node:module";
import { CausalLM } from "@densessm/core";
import { build } from "esbuild";
import { decoding, FIXED_WORKLOADS, trainingStep, type Workload } from "../scripts/fixed-set.js";
import { buildCompiler, buildPtxSet, writePtxSet } from "../scripts/ptx-set.js";
import { SHAPES } from "./shapes.js";

const LIMIT = 60 * 2 ** 20;
const here = fileURLToPath(new URL(".", import.meta.url));
const repo = fileURLToPath(new URL("../../../", import.meta.url));
const argv = process.argv.slice(2);
const out = argv.includes("--out") ? argv[argv.indexOf("--out") + 1]! : join(repo, ".cache/device-check");

/**
 * The check's own kernels at its shapes (the issue's, and --small's): training with each kind of
 * product it measures (f32, and the tensor cores' TF32 and bf16), batch-1 decoding.
 */
const CHECK_WORKLOADS: Workload[] = [
  ...FIXED_WORKLOADS,
  ...(["full", "small"] as const).flatMap((size) =>
    (["f32", "tf32", "bf16"] as const).map((matmul) => {
      const shape = SHAPES[size];
      return {
        name: `DenseGAU-RetNet (released layout${size === "full" ? ", 350M" : ", tiny"}), ${matmul} products: training step at ${shape.batch} × ${shape.seq}, batch-1 decoding after a ${shape.prompt}-token prompt`,
        backend: { matmul },
        async run(session) {
          const lm = CausalLM.fromConfig(shape.config, { initialize: false });
          await trainingStep(session, lm, shape.batch, shape.seq);
          await session.compile(lm.chunkGraph(1, shape.prompt));
          await decoding(session, lm, 1, 1);
        },
      } satisfies Workload;
    }),
  ),
];

async function sizeOf(path: string): Promise<number> {
  const s = await stat(path);
  if (!s.isDirectory()) return s.size;
  let total = 0;
  for (const name of await readdir(path)) total += await sizeOf(join(path, name));
  return total;
}

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });

// The script, bundled from the TypeScript sources; koffi stays a package beside it (it finds its
// native binary by path).
await build({
  entryPoints: [join(here, "check.ts")],
  outfile: join(out, "check.mjs"),
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  conditions: ["@densessm/source"],
  external: ["koffi"],
  banner: { js: 'import { createRequire as __cr } from "node:module"; const require = __cr(import.meta.url);' },
  logLevel: "warning",
});
const require = createRequire(join(repo, "packages/backend-cuda/package.json"));
// (koffi's package exports hide package.json: find the folders from their entry files.)
const koffi = dirname(require.resolve("koffi"));
const koffiBinary = dirname(createRequire(join(koffi, "index.js")).resolve("@koromix/koffi-linux-x64"));
await cp(koffi, join(out, "node_modules/koffi"), { recursive: true, dereference: true });
await cp(koffiBinary, join(out, "node_modules/@koromix/koffi-linux-x64"), { recursive: true, dereference: true });

for (const model of ["dense-gau-retnet-tiny", "mamba-tiny"]) await cp(join(repo, "models", model), join(out, "models", model), { recursive: true });
await cp(join(here, "reference.py"), join(out, "reference.py"));
await cp(join(repo, "models/reference/densessm_reference.py"), join(out, "densessm_reference.py"));

if (!argv.includes("--no-ptx")) {
  const compiler = await buildCompiler();
  if (typeof compiler === "string") throw new Error(`the check's PTX set needs NVRTC 11.8: ${compiler}`);
  console.log("device check: building its PTX set");
  const set = await buildPtxSet(CHECK_WORKLOADS, compiler, console.log);
  await writePtxSet(join(out, "ptx/device-check-kernels.json.gz"), set);
}

if (argv.includes("--node")) await pipeline(createReadStream(process.execPath), createGzip({ level: 9 }), createWriteStream(join(out, "node.gz")));

await writeFile(
  join(out, "run.sh"),
  `#!/bin/sh
# The DenseSSM.js CUDA device check (built by packages/backend-cuda/device-check/build.ts).
# Uses this machine's Node if it is 20 or newer, else the bundled one; needs no network.
set -e
here=$(cd "$(dirname "$0")" && pwd)
node=$(command -v node || true)
if [ -z "$node" ] || [ "$("$node" -p 'Number(process.versions.node.split(".")[0]) >= 20')" != true ]; then
  [ -f "$here/node.gz" ] || { echo "run.sh: no Node 20+ on this machine and none bundled (build with --node)" >&2; exit 1; }
  [ -x "$here/node" ] || { gunzip -c "$here/node.gz" > "$here/node" && chmod +x "$here/node"; }
  node="$here/node"
fi
[ -f "$here/ptx/device-check-kernels.json.gz" ] && export DENSESSM_CUDA_PTX="$here/ptx/device-check-kernels.json.gz"
exec "$node" "$here/check.mjs" --models "$here/models" "$@"
`,
);
await chmod(join(out, "run.sh"), 0o755);

const size = await sizeOf(out);
console.log(`device check: ${out} (${(size / 2 ** 20).toFixed(1)} MiB of at most 60)`);
if (size > LIMIT) throw new Error(`the device check is ${(size / 2 ** 20).toFixed(1)} MiB, over 60 MiB`);
