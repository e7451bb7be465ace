import { emitCuda } from "../emit/cuda.js";
import { emitWgsl } from "../emit/wgsl.js";
import { compileInterpreted, type InterpretedKernel } from "../interpret/compile.js";
import { KernelBuilder } from "./builder.js";
import { checkKernel } from "./check.js";
import { kernelError, withKernel } from "./errors.js";
import type { KernelIR } from "./ir.js";

/** What a kernel specializes on: numbers, strings, booleans, and arrays/objects of them. */
export type SpecValue = number | string | boolean | null | readonly SpecValue[] | { readonly [key: string]: SpecValue | undefined };

/** A stable text form of a specialization (object keys sorted), used as its cache key. */
export function specKey(spec: SpecValue): string {
  if (spec === null || typeof spec !== "object") return JSON.stringify(spec);
  if (Array.isArray(spec)) return `[${spec.map(specKey).join(",")}]`;
  const o = spec as { readonly [key: string]: SpecValue | undefined };
  const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${specKey(o[k]!)}`).join(",")}}`;
}

/** FNV-1a, 32 bits, as 8 hex digits: short unique-enough suffixes for entry-point names. */
function hash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).padStart(8, "0");
}

/** Every specialization made in this process, by CUDA entry name (a mock driver finds kernels here). */
const byEntry = new Map<string, KernelProgram>();
/** The names of every kernel defined in this process. */
const definitions = new Set<string>();

/**
 * One specialization of a kernel: its checked IR and, made on first use and kept, its WGSL source,
 * its CUDA C++ source, and its interpreter closure. Identical specializations are one object, so
 * runtimes can cache compiled pipelines/modules on it.
 */
export class KernelProgram {
  private wgslSource: string | undefined;
  private cudaSource: string | undefined;
  private interpreted: InterpretedKernel | undefined;
  private interpretedDebug: InterpretedKernel | undefined;

  constructor(
    readonly ir: KernelIR,
    /** The specialization's key (see specKey). */
    readonly key: string,
  ) {}

  get name(): string {
    return this.ir.name;
  }

  /** The CUDA entry point (`extern "C" __global__ void <entry>(...)`), unique per specialization. */
  get entry(): string {
    return this.ir.entry;
  }

  get workgroupSize(): readonly [number, number, number] {
    return this.ir.workgroupSize;
  }

  /** WGSL compute shader; entry point `main`, storage at bindings 0..n-1, parameters (if any) a uniform at n. */
  get wgsl(): string {
    return (this.wgslSource ??= emitWgsl(this.ir));
  }

  /** A self-contained CUDA C++ translation unit (no headers) with one `extern "C" __global__` kernel. */
  get cuda(): string {
    return (this.cudaSource ??= emitCuda(this.ir));
  }

  /** The interpreter's compiled form; `debug` adds bounds, barrier and uninitialised-memory checks. */
  interpreter(debug = false): InterpretedKernel {
    if (debug) return (this.interpretedDebug ??= compileInterpreted(this.ir, true));
    return (this.interpreted ??= compileInterpreted(this.ir, false));
  }
}

export interface KernelDef<S extends SpecValue> {
  readonly name: string;
  /** The program for `spec`, built and checked once per distinct spec. */
  specialize(spec: S): KernelProgram;
}

/**
 * Defines a kernel: `build` records its body for one specialization (constants, tile sizes, dtypes
 * in `spec`), in the kernel language. Each distinct spec is built once and cached; a kernel with
 * bad types, a misplaced barrier or bad declarations fails here with a KernelError naming it.
 */
export function defineKernel<S extends SpecValue>(name: string, build: (k: KernelBuilder, spec: S) => void): KernelDef<S> {
  if (!/^[A-Za-z][A-Za-z0-9_.]*$/.test(name)) throw kernelError(`kernel name "${name}" must be letters, digits, '_' or '.'`);
  definitions.add(name);
  const cache = new Map<string, KernelProgram>();
  return {
    name,
    specialize(spec: S): KernelProgram {
      const key = specKey(spec);
      let program = cache.get(key);
      if (!program) {
        program = withKernel(name, () => {
          const k = new KernelBuilder(name);
          build(k, spec);
          const ir: KernelIR = {
            name,
            entry: `${name.replace(/\./g, "_")}_${hash(key)}`,
            workgroupSize: k.size,
            storage: k.storageDecls,
            params: k.paramDecls,
            shared: k.sharedDecls,
            consts: k.constDecls,
            body: k.body,
          };
          checkKernel(ir);
          return new KernelProgram(ir, key);
        });
        const clash = byEntry.get(program.entry);
        if (clash && clash.key !== key) throw kernelError(`two specializations hash to the entry name ${program.entry}`, name);
        cache.set(key, program);
        byEntry.set(program.entry, program);
      }
      return program;
    },
  };
}

/** A specialization made earlier in this process, by its CUDA entry name (for mock drivers and tools). */
export function programByEntry(entry: string): KernelProgram | undefined {
  return byEntry.get(entry);
}

/** The names of every kernel defined so far in this process. */
export function definedKernels(): string[] {
  return [...definitions];
}

/** Every specialization made so far in this process (for compile checks of the emitted sources). */
export function allPrograms(): KernelProgram[] {
  return [...byEntry.values()];
}
