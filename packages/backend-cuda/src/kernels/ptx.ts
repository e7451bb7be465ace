import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";

/**
 * The CUDA release each PTX ISA version came with, as the driver encodes versions (11080 is 11.8).
 * A driver JIT-compiles PTX of its own CUDA version and older, never newer.
 */
const ISA_CUDA: Readonly<Record<string, number>> = {
  "7.0": 11000, "7.1": 11010, "7.2": 11020, "7.3": 11030, "7.4": 11040, "7.5": 11050, "7.6": 11060, "7.7": 11070, "7.8": 11080,
  "8.0": 12000, "8.1": 12010, "8.2": 12020, "8.3": 12030, "8.4": 12040, "8.5": 12050, "8.6": 12070, "8.7": 12080, "8.8": 12090,
  "9.0": 13000,
};

/** The `.version` of a PTX text. */
export function ptxIsa(ptx: string): string {
  const m = /^\s*\.version\s+(\d+\.\d+)/m.exec(ptx);
  if (!m) throw new Error("not PTX: no .version directive");
  return m[1]!;
}

/** The oldest CUDA driver version (driver encoding) that can JIT PTX of ISA `isa`. */
export function cudaForIsa(isa: string): number {
  const v = ISA_CUDA[isa];
  if (v === undefined) throw new Error(`PTX ISA ${isa} is newer than this package knows`);
  return v;
}

/** The oldest Linux driver release of each CUDA major.minor the shipped PTX may need. */
export const MIN_LINUX_DRIVER: Readonly<Record<number, string>> = { 11080: "520.61.05", 12000: "525.60.13", 13000: "580.65.06" };

/** The PTX set built with the package (scripts/build-ptx.ts): one self-contained PTX module per kernel specialization. */
export interface ShippedPtx {
  readonly format: "densessm-ptx";
  readonly version: 1;
  /** The compiler that wrote it ("NVRTC 11.8"). */
  readonly compiler: string;
  /** Its PTX ISA version ("7.8") and target ("sm_80": runs on compute capability 8.0 and newer). */
  readonly isa: string;
  readonly target: string;
  /** The oldest driver (driver encoding) that can JIT it. */
  readonly minimumDriver: number;
  /** What the set was built from (workloads), for the README and messages. */
  readonly covers: readonly string[];
  /** PTX text by kernel entry name. */
  readonly kernels: Readonly<Record<string, string>>;
}

/** Where the build writes the set: `ptx/` beside `src/` and `dist/`. */
export const SHIPPED_PTX_FILE = "ptx/fixed-kernels.json.gz";

function defaultPath(): string | undefined {
  // From src/kernels/ptx.ts (tests, tsx) or from the bundled dist/index.js.
  for (const rel of [`../../${SHIPPED_PTX_FILE}`, `../${SHIPPED_PTX_FILE}`]) {
    const path = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(path)) return path;
  }
  return undefined;
}

let cached: { path: string; set: ShippedPtx | undefined } | undefined;

/** The shipped PTX set (read once), or undefined when the package was built without one. */
export function shippedPtx(path = process.env.DENSESSM_CUDA_PTX ?? defaultPath()): ShippedPtx | undefined {
  if (!path) return undefined;
  if (cached?.path === path) return cached.set;
  const set = JSON.parse(gunzipSync(readFileSync(path)).toString("utf8")) as ShippedPtx;
  if (set.format !== "densessm-ptx" || set.version !== 1) throw new Error(`${path} is not a PTX set this package reads`);
  cached = { path, set };
  return set;
}
