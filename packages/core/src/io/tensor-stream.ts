import type { DType } from "../tensor/dtype.js";
import type { Tensor } from "../tensor/tensor.js";

/**
 * A tensor to be written, described up front (writers lay out headers first) and produced when
 * its turn comes, so a file of any size is written holding one tensor at a time.
 */
export interface PendingTensor {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** The values (dtype and shape as declared). */
  values(): Tensor | Promise<Tensor>;
  /** Another entry's name whose values these are (a tied weight): written once, referenced twice where the format can. */
  readonly sameAs?: string;
}

/** Tensors in memory as PendingTensors; one Tensor object under several names is marked as tied. */
export function pendingTensors(tensors: Iterable<readonly [string, Tensor]>): PendingTensor[] {
  const first = new Map<Tensor, string>();
  return [...tensors].map(([name, t]) => {
    const sameAs = first.get(t);
    if (!sameAs) first.set(t, name);
    return { name, dtype: t.dtype, shape: t.shape, values: () => t, ...(sameAs ? { sameAs } : {}) };
  });
}

/** Bytes of a tensor's storage, without copying. */
export function tensorBytes(t: Tensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}
