import { BackendError } from "../errors.js";
import type { Backend } from "./backend.js";

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
  create(): Backend | Promise<Backend>;
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
  instances.delete(registration.name);
}

export function unregisterBackend(name: string): void {
  registrations.delete(name);
  instances.delete(name);
}

/** Registered backends, best first. */
export function listBackends(): { name: string; priority: number }[] {
  return [...registrations.values()].sort((a, b) => b.priority - a.priority).map(({ name, priority }) => ({ name, priority }));
}

/**
 * The backend named `name`, or the highest-priority available and preferred one. Instances are
 * created once and shared. An unknown name throws with the list of registered ones.
 */
export async function getBackend(name?: string): Promise<Backend> {
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
    return instance(reg);
  }
  for (const { name: candidate } of listBackends()) {
    const reg = registrations.get(candidate)!;
    const usable = (!reg.isAvailable || (await reg.isAvailable())) && (!reg.preferred || (await reg.preferred()));
    if (usable) return instance(reg);
  }
  throw new BackendError("no backend is available: import a backend package, e.g. @densessm/backend-cpu");
}

function instance(reg: BackendRegistration): Promise<Backend> {
  let p = instances.get(reg.name);
  if (!p) {
    p = Promise.resolve(reg.create());
    instances.set(reg.name, p);
    p.catch(() => instances.delete(reg.name));
  }
  return p;
}
