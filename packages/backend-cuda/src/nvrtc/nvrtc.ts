import { loadKoffi, bindAll, open, type Koffi, type KoffiFunction, type KoffiLibrary } from "../driver/koffi.js";
import { builtinsBeside, nvrtcCandidates } from "./find.js";

/** What a compiled translation unit is: PTX text (JIT-compiled by the driver) or a cubin for one architecture. */
export interface CompiledImage {
  readonly kind: "ptx" | "cubin";
  /** NUL-terminated PTX, or the cubin's bytes: what cuModuleLoadData takes. */
  readonly image: Uint8Array;
}

/** A CUDA C++ compiler the runtime can use for kernels the shipped PTX lacks. */
export interface KernelCompiler {
  /** For messages: "NVRTC 12.4 at /path". */
  readonly description: string;
  /** The compiler's CUDA version in the driver's encoding (12040 is 12.4). */
  readonly version: number;
  /** Compute capabilities it can compile for, as 10 · major + minor (80, 86, 90, ...). */
  readonly architectures: readonly number[];
  /** Compiles one translation unit: a cubin for `sm_<arch>`, or PTX for `compute_<arch>`. Throws with the compiler's log. */
  compile(source: string, arch: number, kind: CompiledImage["kind"]): CompiledImage;
}

/** nvrtcCompileProgram's options for a target. */
const compileOptions = (arch: number, kind: CompiledImage["kind"]) => [`--gpu-architecture=${kind === "cubin" ? "sm" : "compute"}_${arch}`, "--std=c++14"];

const NVRTC_SYMBOLS = {
  version: "int nvrtcVersion(_Out_ int *major, _Out_ int *minor)",
  numArchs: "int nvrtcGetNumSupportedArchs(_Out_ int *count)",
  archs: "int nvrtcGetSupportedArchs(_Out_ int *archs)",
  errorString: "const char *nvrtcGetErrorString(int result)",
  create: "int nvrtcCreateProgram(_Out_ void **program, const char *source, const char *name, int headers, void *sources, void *names)",
  compile: "int nvrtcCompileProgram(void *program, int count, const char **options)",
  logSize: "int nvrtcGetProgramLogSize(void *program, _Out_ size_t *bytes)",
  log: "int nvrtcGetProgramLog(void *program, _Out_ uint8_t *log)",
  ptxSize: "int nvrtcGetPTXSize(void *program, _Out_ size_t *bytes)",
  ptx: "int nvrtcGetPTX(void *program, _Out_ uint8_t *ptx)",
  cubinSize: "int nvrtcGetCUBINSize(void *program, _Out_ size_t *bytes)",
  cubin: "int nvrtcGetCUBIN(void *program, _Out_ uint8_t *cubin)",
  destroy: "int nvrtcDestroyProgram(_Inout_ void **program)",
} as const;

type Symbols = Record<keyof typeof NVRTC_SYMBOLS, KoffiFunction>;

/** Libraries kept loaded for the life of the process (a collected handle is closed, and NVRTC then loses its builtins). */
const keep: KoffiLibrary[] = [];

/** NVRTC through koffi. */
export class Nvrtc implements KernelCompiler {
  readonly description: string;
  readonly version: number;
  readonly architectures: readonly number[];

  private constructor(
    private readonly nv: Symbols,
    readonly path: string,
  ) {
    const [major, minor] = [[0], [0]];
    nv.version(major, minor);
    this.version = major[0]! * 1000 + minor[0]! * 10;
    const count = [0];
    nv.numArchs(count);
    const archs = new Int32Array(count[0]!);
    nv.archs(archs);
    this.architectures = [...archs];
    this.description = `NVRTC ${major[0]}.${minor[0]} at ${path}`;
  }

  /** Opens the NVRTC at `path` (loading its builtins first), or returns why it cannot be used. */
  static open(koffi: Koffi, path: string): Nvrtc | string {
    const builtins = builtinsBeside(path);
    if (builtins) {
      const b = open(koffi, builtins);
      if (typeof b !== "string") keep.push(b);
    }
    const library = open(koffi, path);
    if (typeof library === "string") return library;
    const symbols = bindAll(library, NVRTC_SYMBOLS);
    if ("missing" in symbols) return `${path} has no ${symbols.missing} (NVRTC 11.2 or newer is needed)`;
    keep.push(library);
    return new Nvrtc(symbols, path);
  }

  compile(source: string, arch: number, kind: CompiledImage["kind"]): CompiledImage {
    const program: unknown[] = [null];
    this.check("nvrtcCreateProgram", this.nv.create(program, source, "densessm_kernels.cu", 0, null, null) as number);
    try {
      return this.result(program[0], this.nv.compile(program[0], 2, compileOptions(arch, kind)) as number, arch, kind);
    } finally {
      this.nv.destroy(program);
    }
  }

  /** The image of a compiled program, or an error with the compiler's log. */
  private result(program: unknown, status: number, arch: number, kind: CompiledImage["kind"]): CompiledImage {
    if (status !== 0) {
      const size = [0];
      this.nv.logSize(program, size);
      const log = Buffer.alloc(Number(size[0]));
      this.nv.log(program, log);
      const target = compileOptions(arch, kind)[0]!.split("=")[1];
      throw new Error(`${this.description} could not compile for ${target}: ${this.nv.errorString(status) as string}\n${log.toString("utf8").replace(/\0+$/, "").trim()}`);
    }
    const [sizeOf, get, what] = kind === "cubin" ? [this.nv.cubinSize, this.nv.cubin, "CUBIN"] : [this.nv.ptxSize, this.nv.ptx, "PTX"];
    const size = [0];
    this.check(`nvrtcGet${what}Size`, sizeOf(program, size) as number);
    const image = new Uint8Array(Number(size[0]));
    this.check(`nvrtcGet${what}`, get(program, image) as number);
    return { kind, image };
  }


  private check(call: string, status: number): void {
    if (status !== 0) throw new Error(`${call} failed: ${this.nv.errorString(status) as string} (${this.description})`);
  }
}

/** The NVRTC found, or every candidate tried and why each was refused. */
export type NvrtcSearch = { compiler: Nvrtc } | { reason: string };

/**
 * The first usable NVRTC in discovery order (see nvrtcCandidates) whose CUDA major version is at
 * most the driver's: a newer major's cubins and PTX do not load on an older driver.
 */
export async function findNvrtc(driverVersion: number, env: Readonly<Record<string, string | undefined>> = process.env): Promise<NvrtcSearch> {
  let koffi: Koffi;
  try {
    koffi = await loadKoffi();
  } catch (e) {
    return { reason: (e as Error).message };
  }
  const refused: string[] = [];
  for (const path of nvrtcCandidates(env)) {
    const nvrtc = Nvrtc.open(koffi, path);
    if (typeof nvrtc === "string") {
      if (!/cannot open shared object file|No such file/i.test(nvrtc)) refused.push(`${path}: ${nvrtc}`);
      continue;
    }
    if (Math.floor(nvrtc.version / 1000) > Math.floor(driverVersion / 1000)) {
      refused.push(`${nvrtc.description}: newer than the driver (CUDA ${cudaVersion(driverVersion)})`);
      continue;
    }
    return { compiler: nvrtc };
  }
  const tried = `DENSESSM_NVRTC, libnvrtc.so.13/.12/.11.2, /usr/local/cuda/lib64 and Python's nvidia/cuda_nvrtc`;
  return { reason: `no usable NVRTC (looked in ${tried})${refused.length ? `; refused: ${refused.join("; ")}` : ""}` };
}

/** 12020 → "12.2". */
export const cudaVersion = (v: number): string => `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}`;
