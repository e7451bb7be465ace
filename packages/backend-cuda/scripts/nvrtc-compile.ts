// One NVRTC compilation in its own process (the PTX build runs two at once: NVRTC 11.8 crashes
// when one process compiles two large programs on two threads).
//   nvrtc-compile.ts <nvrtc library> <source.cu> <out.ptx> <arch>
import { readFileSync, writeFileSync } from "node:fs";
import { loadKoffi } from "../src/driver/koffi.js";
import { Nvrtc } from "../src/nvrtc/nvrtc.js";

const [library, source, out, arch] = process.argv.slice(2) as [string, string, string, string];
const nvrtc = Nvrtc.open(await loadKoffi(), library);
if (typeof nvrtc === "string") throw new Error(nvrtc);
writeFileSync(out, nvrtc.compile(readFileSync(source, "utf8"), Number(arch), "ptx").image);
