// The package build's second half (after tsup): the shipped PTX set, ptx/fixed-kernels.json.gz.
// Without NVRTC 11.8 the package still builds, says so loudly, and then needs NVRTC at run time;
// on CI (CI set) that is an error.
import { fileURLToPath } from "node:url";
import { SHIPPED_PTX_FILE } from "../src/kernels/ptx.js";
import { cudaVersion } from "../src/nvrtc/nvrtc.js";
import { FIXED_WORKLOADS } from "./fixed-set.js";
import { buildCompiler, buildPtxSet, writePtxSet } from "./ptx-set.js";

const out = fileURLToPath(new URL(`../${SHIPPED_PTX_FILE}`, import.meta.url));
const compiler = await buildCompiler();
if (typeof compiler === "string") {
  const problem = `backend-cuda: the shipped PTX set was NOT built: ${compiler}; the package will need NVRTC at run time`;
  if (process.env.CI) throw new Error(problem);
  console.warn(`\n!!! ${problem} !!!\n`);
} else {
  console.log(`backend-cuda: building the shipped PTX set (${SHIPPED_PTX_FILE})`);
  const set = await buildPtxSet(FIXED_WORKLOADS, compiler, console.log);
  const bytes = await writePtxSet(out, set);
  console.log(`backend-cuda: ${Object.keys(set.kernels).length} kernels, PTX ISA ${set.isa} for ${set.target} (drivers of CUDA ${cudaVersion(set.minimumDriver)} and newer), ${(bytes / 2 ** 20).toFixed(2)} MiB gzipped`);
}
