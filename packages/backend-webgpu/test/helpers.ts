import { Session, type SymTensor, type Tensor } from "@densessm/core";
import { agreeOn } from "../../gpu/test/compare.js";
import { WebGpuBackend } from "../src/index.js";

// The comparisons with backend-cpu are @densessm/gpu's (this backend is its executor on Dawn).
export { cpu, feedsOf, graphOf, maxAbsDiff, randn } from "../../gpu/test/compare.js";

/** One webgpu backend per test file (on CI: SwiftShader). Fails loudly when there is no adapter. */
export const gpuBackend = await WebGpuBackend.create();
export const gpu = new Session(gpuBackend);

/** `fn` on backend-cpu and on `session` (default: webgpu) agree to `tol` of the largest value. */
export const agree = (fn: (xs: SymTensor[]) => SymTensor, inputs: Tensor[], tol = 1e-5, session = gpu): Promise<void> => agreeOn(session, fn, inputs, tol);
