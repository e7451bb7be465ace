// The CUDA compilers the compile check can use: nvcc (these machines ship nvcc 13), or NVRTC from
// Debian's libnvrtc11.2 that .ci/cuda-compiler unpacks into .cache/nvrtc, called through koffi.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export interface CudaCompiler {
  /** What compiled, for the test's name and the CI log. */
  readonly description: string;
  /** Compiles one translation unit for `arch` ("sm_80"); returns the compiler's errors, or "" when it compiled. */
  compile(source: string, arch: string): string;
}

const repo = fileURLToPath(new URL("../../../", import.meta.url));
const NVRTC_DIR = join(repo, ".cache/nvrtc/root/usr/lib/x86_64-linux-gnu");

function findNvcc(): string | undefined {
  for (const candidate of [process.env.NVCC, "/usr/local/cuda/bin/nvcc"]) if (candidate && existsSync(candidate)) return candidate;
  try {
    return execFileSync("sh", ["-c", "command -v nvcc"], { encoding: "utf8" }).trim() || undefined;
  } catch {
    return undefined;
  }
}

function nvcc(path: string): CudaCompiler {
  const version = execFileSync(path, ["--version"], { encoding: "utf8" }).trim().split("\n").pop()!;
  const dir = mkdtempSync(join(tmpdir(), "densessm-cuda-"));
  return {
    description: `nvcc (${version})`,
    compile(source, arch) {
      const file = join(dir, `kernels_${arch}.cu`);
      writeFileSync(file, source);
      try {
        // -cubin runs ptxas too, so register allocation and PTX-level errors count.
        execFileSync(path, [`-arch=${arch}`, "-cubin", "-o", join(dir, `kernels_${arch}.cubin`), file], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
        return "";
      } catch (e) {
        const err = e as { stderr?: string; stdout?: string; message: string };
        return `${err.stdout ?? ""}${err.stderr ?? ""}` || err.message;
      }
    },
  };
}

/** Kept alive: a collected handle is closed, and NVRTC then fails to find its builtins. */
let builtins: unknown;

async function nvrtc(): Promise<CudaCompiler> {
  const { default: koffi } = await import("koffi");
  // The builtins library must be loaded (by absolute path) before NVRTC looks for it by name.
  builtins = koffi.load(join(NVRTC_DIR, "libnvrtc-builtins.so.11.8"));
  const lib = koffi.load(join(NVRTC_DIR, "libnvrtc.so.11.2"));
  const create = lib.func("int nvrtcCreateProgram(_Out_ void **prog, const char *src, const char *name, int numHeaders, void *headers, void *includeNames)");
  const compile = lib.func("int nvrtcCompileProgram(void *prog, int numOptions, const char **options)");
  const logSize = lib.func("int nvrtcGetProgramLogSize(void *prog, _Out_ size_t *size)");
  const getLog = lib.func("int nvrtcGetProgramLog(void *prog, _Out_ uint8_t *log)");
  const destroy = lib.func("int nvrtcDestroyProgram(_Inout_ void **prog)");
  const version = lib.func("int nvrtcVersion(_Out_ int *major, _Out_ int *minor)");
  const [major, minor] = [[0], [0]];
  version(major, minor);
  return {
    description: `NVRTC ${major[0]}.${minor[0]} (Debian's libnvrtc11.2${builtins ? "" : ", no builtins"})`,
    compile(source, arch) {
      const prog: unknown[] = [null];
      if (create(prog, source, "kernels.cu", 0, null, null) !== 0) return "nvrtcCreateProgram failed";
      try {
        const status = compile(prog[0], 1, [`--gpu-architecture=${arch}`]) as number;
        if (status === 0) return "";
        const size = [0];
        logSize(prog[0], size);
        const log = Buffer.alloc(Number(size[0]));
        getLog(prog[0], log);
        return log.toString("utf8").replace(/\0+$/, "") || `nvrtcCompileProgram returned ${status}`;
      } finally {
        destroy(prog);
      }
    },
  };
}

/**
 * nvcc if found (unless DENSESSM_CUDA_COMPILER=nvrtc), else NVRTC if .ci/cuda-compiler unpacked
 * it, else undefined.
 */
export async function findCudaCompiler(): Promise<CudaCompiler | undefined> {
  const path = process.env.DENSESSM_CUDA_COMPILER === "nvrtc" ? undefined : findNvcc();
  if (path) return nvcc(path);
  if (existsSync(join(NVRTC_DIR, "libnvrtc.so.11.2"))) return nvrtc();
  return undefined;
}
