import { DenseSSMError } from "@densessm/core";

/** A kernel program that is wrong: a type mismatch, a barrier in divergent control flow, a bad binding. */
export class KernelError extends DenseSSMError {
  override name = "KernelError";
}

/** Kernels being built right now (innermost last), so a type error deep in an expression names its kernel. */
const building: string[] = [];

export function withKernel<T>(name: string, body: () => T): T {
  building.push(name);
  try {
    return body();
  } finally {
    building.pop();
  }
}

/** A KernelError naming the kernel being built (or `kernel` when given). */
export function kernelError(problem: string, kernel = building[building.length - 1]): KernelError {
  return new KernelError(kernel === undefined ? problem : `kernel "${kernel}": ${problem}`);
}
