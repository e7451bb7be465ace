// koffi, loaded on first use (never when the package is imported): its prebuilt binary comes with
// the optional dependency @koromix/koffi-linux-x64 (and its siblings for other platforms), so
// nothing is compiled or downloaded at install. A platform without one gets a reason, not a crash.

import type * as KoffiModule from "koffi";

export type Koffi = typeof KoffiModule;
export type KoffiLibrary = ReturnType<Koffi["load"]>;
export type KoffiFunction = ReturnType<KoffiLibrary["func"]>;

let loaded: Promise<Koffi> | undefined;

/** The koffi module; rejects with one line saying why it cannot be loaded here. */
export function loadKoffi(): Promise<Koffi> {
  loaded ??= import("koffi").then(
    (m) => ((m as unknown as { default?: Koffi }).default ?? m) as Koffi,
    (e: Error) => {
      throw new Error(`koffi (the FFI library this backend calls the driver through) cannot load on ${process.platform}-${process.arch}: ${e.message.split("\n")[0]}`);
    },
  );
  return loaded;
}

/** Opens a shared library, or returns the loader's one-line reason. */
export function open(koffi: Koffi, path: string): KoffiLibrary | string {
  try {
    return koffi.load(path);
  } catch (e) {
    return (e as Error).message.split("\n")[0]!;
  }
}

/** Binds every `int name(...)` signature, or names the first symbol the library lacks. */
export function bindAll<K extends string>(library: KoffiLibrary, signatures: Readonly<Record<K, string>>): Record<K, KoffiFunction> | { missing: string } {
  const bound = {} as Record<K, KoffiFunction>;
  for (const [name, signature] of Object.entries(signatures) as [K, string][]) {
    try {
      bound[name] = library.func(signature);
    } catch {
      return { missing: signature.match(/\b(\w+)\(/)![1]! };
    }
  }
  return bound;
}
