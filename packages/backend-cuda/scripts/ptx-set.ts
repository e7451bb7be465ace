// Builds a PTX set (the format `shippedPtx` reads): the specializations some workloads need,
// compiled by NVRTC into one PTX module, split into one module per kernel.
import { existsSync } from "node:fs";
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { writeFileAtomic } from "@densessm/core";
import { loadKoffi } from "../src/driver/koffi.js";
import { cudaForIsa, ptxIsa, type ShippedPtx } from "../src/kernels/ptx.js";
import { Nvrtc } from "../src/nvrtc/nvrtc.js";
import { collect } from "./collect.js";
import type { Workload } from "./fixed-set.js";
import { splitPtx } from "./ptx-split.js";

/** Debian's NVRTC 11.8 as .ci/cuda-libraries unpacks it. */
export const CACHED_NVRTC = fileURLToPath(new URL("../../../.cache/nvrtc/root/usr/lib/x86_64-linux-gnu/libnvrtc.so.11.2", import.meta.url));

/** The oldest architecture the set targets: Ampere (sm_80), which the tensor-core kernels need too. */
export const PTX_TARGET = 80;

/**
 * The NVRTC the set is built with: DENSESSM_PTX_NVRTC, else Debian's 11.8 in .cache. Never a newer
 * one found on the system by accident: its PTX ISA would raise the driver the set needs.
 */
export async function buildCompiler(): Promise<Nvrtc | string> {
  const path = process.env.DENSESSM_PTX_NVRTC ?? CACHED_NVRTC;
  if (!existsSync(path)) return `no NVRTC at ${path} (run \`bash .ci/cuda-libraries\` to unpack Debian's NVRTC 11.8, or set DENSESSM_PTX_NVRTC)`;
  return Nvrtc.open(await loadKoffi(), path);
}

export async function buildPtxSet(workloads: readonly Workload[], compiler: Nvrtc, log: (line: string) => void): Promise<ShippedPtx> {
  const programs = await collect(workloads, log);
  const started = performance.now();
  // In two halves at once, in two processes (NVRTC's time is about linear in the kernels).
  const sources = [...new Set(programs.map((p) => p.cuda))];
  const halves = [sources.slice(0, sources.length >> 1), sources.slice(sources.length >> 1)].filter((h) => h.length);
  const ptxs = await Promise.all(halves.map((h) => compileElsewhere(compiler.path, h.join("\n"))));
  const parts = new Map(ptxs.flatMap((p) => [...splitPtx(p)]));
  const ptx = ptxs[0]!;
  const missing = programs.filter((p) => !parts.has(p.entry));
  if (missing.length) throw new Error(`the PTX lacks ${missing.length} entries (${missing[0]!.entry}, ...)`);
  const isa = ptxIsa(ptx);
  log(`  ${programs.length} kernels compiled by ${compiler.description} for compute_${PTX_TARGET} (PTX ISA ${isa}) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return {
    format: "densessm-ptx",
    version: 1,
    compiler: compiler.description.replace(/ at .*/, ""),
    isa,
    target: `sm_${PTX_TARGET}`,
    minimumDriver: cudaForIsa(isa),
    covers: workloads.map((w) => w.name),
    kernels: Object.fromEntries(programs.map((p) => [p.entry, parts.get(p.entry)!])),
  };
}

export async function writePtxSet(path: string, set: ShippedPtx): Promise<number> {
  const bytes = gzipSync(JSON.stringify(set), { level: 9 });
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, bytes);
  return bytes.length;
}

/** Compiles a translation unit to PTX in a child process (scripts/nvrtc-compile.ts). */
async function compileElsewhere(library: string, source: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "densessm-ptx-"));
  try {
    await writeFile(join(dir, "unit.cu"), source);
    const script = fileURLToPath(new URL("./nvrtc-compile.ts", import.meta.url));
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, ["--import", "tsx", script, library, join(dir, "unit.cu"), join(dir, "unit.ptx"), String(PTX_TARGET)], { stdio: ["ignore", "inherit", "pipe"] });
      let err = "";
      child.stderr.on("data", (d: Buffer) => (err += d.toString()));
      child.on("exit", (code, signal) => (code === 0 ? resolve() : reject(new Error(`NVRTC failed (${signal ?? `exit ${code}`}): ${err.trim()}`))));
    });
    return (await readFile(join(dir, "unit.ptx"), "utf8")).replace(/\0+$/, "");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
