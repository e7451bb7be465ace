import { BackendError } from "../errors.js";
import type { Backend } from "./backend.js";

/** What a caller may ask of the backend it gets. */
export interface BackendOptions {
  /**
   * "bf16": mixed precision, matrix products on bfloat16 inputs with f32 accumulation (tensor
   * cores on cuda), every other value (the master weights included) f32. A backend that cannot
   * is refused with a message. Default "f32".
   */
  readonly dtype?: "f32" | "bf16";
  /**
   * The same bits on every run of the same graph and inputs. Backends whose fastest kernels split
   * sums across threads in an order that varies from run to run (onnx: onnxruntime's multi-threaded
   * kernels) then run in a fixed order, at some cost in speed; the others already do (cpu).
   * Training needs it for a killed and resumed run to repeat the uninterrupted run's losses exactly.
   */
  readonly deterministic?: boolean;
}

export interface BackendRegistration {
  readonly name: string;
  /** Higher wins when the caller does not name a backend (cpu is 0, GPU backends are higher). */
  readonly priority: number;
  /** Whether this machine can run it (an adapter, a driver, a native module); default true. */
  isAvailable?(): boolean | Promise<boolean>;
  /**
   * Why it is not available, in one line (no driver, no device, a driver too old), for the error
   * that naming an unavailable backend gets.
   */
  unavailableReason?(): string | undefined | Promise<string | undefined>;
  /**
   * Whether automatic selection may pick it (default true). A backend that runs here but slowly,
   * like WebGPU on a software adapter, says false: it stays usable by name.
   */
  preferred?(): boolean | Promise<boolean>;
  /** Makes the backend; it should honour `options` and may ignore what it cannot do (getBackend checks). */
  create(options: BackendOptions): Backend | Promise<Backend>;
}

const registrations = new Map<string, BackendRegistration>();
const instances = new Map<string, Promise<Backend>>();

/**
 * Makes a backend choosable by name. Our backends call this when imported; a third-party backend
 * calls it exactly the same way. Registering a name again replaces the earlier registration.
 */
export function registerBackend(registration: BackendRegistration): void {
  if (!/^[a-z0-9][a-z0-9_-]*$/.test(registration.name)) throw new BackendError(`backend name "${registration.name}" must be lower-case letters, digits, '-' or '_'`);
  registrations.set(registration.name, registration);
  forget(registration.name);
}

/** Drops the cached instances of a name (every dtype). */
function forget(name: string): void {
  for (const key of [...instances.keys()]) if (key === name || key.startsWith(`${name}/`)) instances.delete(key);
}

export function unregisterBackend(name: string): void {
  registrations.delete(name);
  forget(name);
}

/** Registered backends, best first. */
export function listBackends(): { name: string; priority: number }[] {
  return [...registrations.values()].sort((a, b) => b.priority - a.priority).map(({ name, priority }) => ({ name, priority }));
}

/**
 * The backend named `name`, or the highest-priority available and preferred one. Instances are
 * created once per name and options and shared. An unknown name throws with the list of
 * registered ones; a backend that cannot do what `options` asks throws saying so.
 */
export async function getBackend(name?: string, options: BackendOptions = {}): Promise<Backend> {
  if (name !== undefined) {
    const reg = registrations.get(name);
    if (!reg) {
      const known = listBackends().map((b) => b.name);
      throw new BackendError(`unknown backend "${name}"; registered: ${known.length ? known.join(", ") : "none (import a backend package, e.g. @densessm/backend-cpu)"}`);
    }
    if (reg.isAvailable && !(await reg.isAvailable())) {
      const reason = await reg.unavailableReason?.();
      throw new BackendError(`backend "${name}" is registered but not available on this machine${reason ? `: ${reason}` : ""}`);
    }
    return instance(reg, options);
  }
  for (const { name: candidate } of listBackends()) {
    const reg = registrations.get(candidate)!;
    const usable = (!reg.isAvailable || (await reg.isAvailable())) && (!reg.preferred || (await reg.preferred()));
    if (usable) return instance(reg, options);
  }
  throw new BackendError("no backend is available: import a backend package, e.g. @densessm/backend-cpu");
}

function instance(reg: BackendRegistration, options: BackendOptions): Promise<Backend> {
  const dtype = options.dtype ?? "f32";
  const key = [reg.name, ...(dtype === "f32" ? [] : [dtype]), ...(options.deterministic ? ["deterministic"] : [])].join("/");
  let p = instances.get(key);
  if (!p) {
    p = Promise.resolve(reg.create(options)).then((backend) => {
      if ((backend.computeDtype ?? "f32") !== dtype) throw new BackendError(`backend "${reg.name}" computes in ${backend.computeDtype ?? "f32"} only; ${dtype} compute needs a backend with ${dtype} matrix products (cuda's tensor cores)`);
      return backend;
    });
    instances.set(key, p);
    p.catch(() => instances.delete(key));
  }
  return p;
}
