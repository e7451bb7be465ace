import { kernelError } from "./errors.js";
import type { KernelProgram } from "./kernel.js";

/**
 * Checks the buffers bound to a launch: one per storage declaration, and no buffer bound twice
 * where either binding writes it (the kernel would read values it is overwriting, differently on
 * every target; CUDA's __restrict__ makes it undefined).
 */
export function checkBindings(program: KernelProgram, buffers: readonly unknown[]): void {
  const decls = program.ir.storage;
  if (buffers.length !== decls.length) throw kernelError(`${decls.length} storage buffers are declared (${decls.map((d) => d.name).join(", ")}), ${buffers.length} were bound`, program.name);
  for (let i = 0; i < buffers.length; i++) {
    for (let j = i + 1; j < buffers.length; j++) {
      if (buffers[i] !== buffers[j]) continue;
      const [a, b] = [decls[i]!, decls[j]!];
      if (a.access === "read_write" || b.access === "read_write") {
        throw kernelError(`one buffer is bound to "${a.name}" (${a.access}) and "${b.name}" (${b.access}): a buffer a kernel writes must be bound once`, program.name);
      }
    }
  }
}
