import { BackendError, numel, Tensor, type DeviceTensor, type DType, type Shape } from "@densessm/core";

const isBytes = (dtype: DType | undefined): boolean => dtype === "int8" || dtype === "uint8";

/**
 * Bytes a tensor takes on the device: int8/uint8 are raw bytes in whole 32-bit words (quantized
 * codes), every other dtype one 32-bit word per element.
 */
export const deviceBytes = (shape: Shape, dtype?: DType): number => (isBytes(dtype) ? Math.ceil(numel(shape) / 4) * 4 : numel(shape) * 4);

/**
 * A tensor in a device buffer. float16/bfloat16 values are held widened to f32 (exactly), int32 as
 * i32, int8/uint8 as raw bytes. Small int32 tensors uploaded from the host keep a host copy, so index feeds (token ids) can
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
    return deviceBytes(this.shape, this.dtype);
  }
}

/** Checks that `t` is a live tensor of the backend `owner` (named `backend` in the error). */
export function expectGpuTensor<Buffer>(t: unknown, owner: object, backend: string, what: string): GpuTensor<Buffer> {
  if (!(t instanceof GpuTensor) || t.owner !== owner) throw new BackendError(`${backend}: ${what} is not a tensor of this ${backend} backend`);
  if (t.released) throw new BackendError(`${backend}: ${what} was already released`);
  return t as GpuTensor<Buffer>;
}

/** A host tensor as the 32-bit words its device buffer holds: int32 as is, floats widened to f32, bytes packed. */
export function hostWords(t: Tensor): Int32Array<ArrayBuffer> | Float32Array<ArrayBuffer> | Uint32Array<ArrayBuffer> {
  if (isBytes(t.dtype)) {
    const bytes = new Uint8Array(deviceBytes(t.shape, t.dtype));
    bytes.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.size));
    return new Uint32Array(bytes.buffer);
  }
  // Tensors are built on ordinary ArrayBuffers (WebGPU does not accept shared ones).
  return (t.dtype === "int32" ? t.data : t.toFloat32()) as Int32Array<ArrayBuffer> | Float32Array<ArrayBuffer>;
}

/** A tensor of `dtype` from the bytes its device buffer holds. */
export function fromDeviceBytes(bytes: ArrayBuffer, shape: Shape, dtype: DType): Tensor {
  const n = numel(shape);
  if (dtype === "int8") return new Tensor(new Int8Array(bytes, 0, n), shape, "int8");
  if (dtype === "uint8") return new Tensor(new Uint8Array(bytes, 0, n), shape, "uint8");
  if (dtype === "int32") return new Tensor(new Int32Array(bytes, 0, n), shape, "int32");
  const f32 = new Tensor(new Float32Array(bytes, 0, n), shape, "float32");
  return dtype === "float32" ? f32 : f32.to(dtype);
}
