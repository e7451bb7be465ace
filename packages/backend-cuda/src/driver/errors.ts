import { BackendError } from "@densessm/core";

/** CUresult codes this backend names or reacts to (cuda.h). */
export const CUDA = {
  SUCCESS: 0,
  ERROR_INVALID_VALUE: 1,
  ERROR_OUT_OF_MEMORY: 2,
  ERROR_NOT_INITIALIZED: 3,
  ERROR_NO_DEVICE: 100,
  ERROR_INVALID_DEVICE: 101,
  ERROR_INVALID_IMAGE: 200,
  ERROR_INVALID_CONTEXT: 201,
  ERROR_INVALID_PTX: 218,
  ERROR_UNSUPPORTED_PTX_VERSION: 222,
  ERROR_INVALID_HANDLE: 400,
  ERROR_NOT_FOUND: 500,
  ERROR_NOT_READY: 600,
  ERROR_ILLEGAL_ADDRESS: 700,
  ERROR_LAUNCH_OUT_OF_RESOURCES: 701,
  ERROR_LAUNCH_FAILED: 719,
  ERROR_STREAM_CAPTURE_UNSUPPORTED: 900,
  ERROR_STREAM_CAPTURE_INVALIDATED: 901,
  ERROR_GRAPH_EXEC_UPDATE_FAILURE: 910,
  ERROR_UNKNOWN: 999,
} as const;

/** Names of those codes, for drivers that cannot ask cuGetErrorName (the mock, a failed load). */
export const ERROR_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(CUDA).map(([k, v]) => [v, `CUDA_${k}`]));

/** A failed driver call: `code` is the CUresult, the message names the call, the error and what it means. */
export class CudaError extends BackendError {
  override name = "CudaError";

  constructor(
    readonly call: string,
    readonly code: number,
    readonly errorName: string,
    description: string,
    detail = "",
  ) {
    super(`cuda: ${call} failed: ${errorName} (${description})${detail ? `: ${detail}` : ""}`);
  }
}
