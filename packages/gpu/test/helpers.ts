import { Session, type SymTensor, type Tensor } from "@densessm/core";
import { InterpreterBackend } from "../src/index.js";
import { agreeOn } from "./compare.js";

export { cpu, feedsOf, graphOf, maxAbsDiff, randn } from "./compare.js";

/** The executor on the interpreter, in debug mode (every access and barrier checked). */
export const interpreterBackend = new InterpreterBackend();
export const interp = new Session(interpreterBackend);

/** `fn` on backend-cpu and on `session` (default: the interpreter) agree to `tol` of the largest value. */
export const agree = (fn: (xs: SymTensor[]) => SymTensor, inputs: Tensor[], tol = 1e-5, session = interp): Promise<void> => agreeOn(session, fn, inputs, tol);
