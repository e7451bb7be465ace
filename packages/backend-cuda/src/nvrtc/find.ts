import { existsSync, readdirSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/** The NVRTC libraries tried by name (the dynamic linker's search), newest first. */
export const NVRTC_SONAMES = ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2"];

/** The CUDA toolkit's library folder. */
export const CUDA_TOOLKIT_LIB = "/usr/local/cuda/lib64";

/** Where pip's NVRTC wheels put the library inside site-packages (CUDA 12 wheels, then CUDA 13's). */
const PYTHON_NVRTC_DIRS = ["nvidia/cuda_nvrtc/lib", "nvidia/cu13/lib"];

const isNvrtc = (name: string) => /^libnvrtc\.so\.\d+(\.\d+)*$/.test(name);

/** Library files in `dir` matching NVRTC, newest version first. */
function nvrtcFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const version = (n: string) => n.slice("libnvrtc.so.".length).split(".").map(Number);
  return names
    .filter(isNvrtc)
    .sort((a, b) => {
      const [x, y] = [version(a), version(b)];
      for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (y[i] ?? 0) - (x[i] ?? 0);
      return 0;
    })
    .map((n) => join(dir, n));
}

/** Python site-packages folders: the active virtual environment or conda prefix, PYTHONPATH, then the usual system and user ones. */
export function sitePackages(env: Readonly<Record<string, string | undefined>> = process.env, home = homedir()): string[] {
  const prefixes = [env.VIRTUAL_ENV, env.CONDA_PREFIX, "/usr/local", "/usr", join(home, ".local"), "/opt/conda"].filter((p): p is string => Boolean(p));
  const dirs = (env.PYTHONPATH ?? "").split(":").filter(Boolean);
  for (const prefix of prefixes) {
    const lib = join(prefix, "lib");
    let pythons: string[];
    try {
      pythons = readdirSync(lib).filter((n) => /^python3(\.\d+)?$/.test(n)).sort().reverse();
    } catch {
      continue;
    }
    for (const py of pythons) for (const kind of ["site-packages", "dist-packages"]) dirs.push(join(lib, py, kind));
  }
  return dirs.filter((d, i) => dirs.indexOf(d) === i && existsSync(d));
}

/**
 * Every NVRTC candidate, in the order they are tried: `DENSESSM_NVRTC` (a library path) if set,
 * then libnvrtc.so.13, .12 and .11.2 by name, then the CUDA toolkit's lib64, then the NVRTC of
 * Python's nvidia-cuda-nvrtc wheels (torch installs them) in each site-packages folder.
 */
export function nvrtcCandidates(env: Readonly<Record<string, string | undefined>> = process.env, home = homedir()): string[] {
  const list = [
    ...(env.DENSESSM_NVRTC ? [env.DENSESSM_NVRTC] : []),
    ...NVRTC_SONAMES,
    ...nvrtcFiles(CUDA_TOOLKIT_LIB),
    ...sitePackages(env, home).flatMap((site) => PYTHON_NVRTC_DIRS.flatMap((d) => nvrtcFiles(join(site, d)))),
  ];
  return list.filter((c, i) => list.indexOf(c) === i);
}

/**
 * NVRTC loads its builtins (libnvrtc-builtins.so.<version>) by name when it first compiles; from a
 * folder the dynamic linker does not search (a pip wheel, an unpacked .deb) that fails with
 * NVRTC_ERROR_BUILTIN_OPERATION_FAILURE. Loading it first, by absolute path, from the folder of the
 * NVRTC being loaded makes the name resolve. Returns that path, if there is one.
 */
export function builtinsBeside(nvrtcPath: string): string | undefined {
  if (!nvrtcPath.includes("/")) return undefined;
  const dir = nvrtcPath.slice(0, nvrtcPath.lastIndexOf("/"));
  try {
    const names = readdirSync(dir).filter((n) => /^libnvrtc-builtins\.so\.\d+\.\d+$/.test(n));
    return names.length ? join(dir, names.sort().at(-1)!) : undefined;
  } catch {
    return undefined;
  }
}
