import { BackendError, numel, type DeviceTensor, type DType, type Shape, type Tensor } from "@densessm/core";

/** Bytes a tensor takes on the device: every dtype is one 32-bit word per element. */
export const deviceBytes = (shape: Shape): number => numel(shape) * 4;

/**
 * A tensor in a device buffer. float16/bfloat16 values are held widened to f32 (exactly), int32 as
 * i32. Small int32 tensors uploaded from the host keep a host copy, so index feeds (token ids) can
 * be range-checked before a gather without reading anything back.
 */
export class GpuTensor<Buffer = unknown> implements DeviceTensor {
  released = false;
  /**
   * A copy to the host recorded in the same submit that produced this tensor (small graph outputs
   * such as sampled token ids), so reading it back costs no second submit.
   */
  staged: unknown;

  constructor(
    readonly shape: Shape,
    readonly dtype: DType,
    readonly buffer: Buffer,
    readonly owner: object,
    readonly host?: Tensor,
  ) {}

  get bytes(): number {
    return deviceBytes(this.shape);
  }
}

/** Checks that `t` is a live tensor of the backend `owner` (named `backend` in the error). */
export function expectGpuTensor<Buffer>(t: unknown, owner: object, backend: string, what: string): GpuTensor<Buffer> {
  if (!(t instanceof GpuTensor) || t.owner !== owner) throw new BackendError(`${backend}: ${what} is not a tensor of this ${backend} backend`);
  if (t.released) throw new BackendError(`${backend}: ${what} was already released`);
  return t as GpuTensor<Buffer>;
}

/** A host tensor as the 32-bit words its device buffer holds: int32 as is, floats widened to f32. */
export function hostWords(t: Tensor): Int32Array<ArrayBuffer> | Float32Array<ArrayBuffer> {
  // Tensors are built on ordinary ArrayBuffers (WebGPU does not accept shared ones).
  return (t.dtype === "int32" ? t.data : t.toFloat32()) as Int32Array<ArrayBuffer> | Float32Array<ArrayBuffer>;
}
