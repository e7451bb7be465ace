import type { MmaShape } from "../lang/ir.js";
import { InvocationFault } from "./helpers.js";
import { emulateMma, type MmaLane } from "./mma.js";

/** What an invocation yields: a barrier's id, or its registers at a warp's mma. */
type Meeting = number | { readonly mma: number; readonly shape: MmaShape; readonly lane: MmaLane };

type Invocation = (x: number, y: number, z: number, index: number) => Generator<Meeting, void, number[] | undefined>;

const WARP = 32;

/**
 * Runs one workgroup of a kernel with barriers: every invocation is a generator that yields the
 * id of each barrier it reaches; all of them run up to the next barrier, then all continue, so
 * memory written before a barrier is visible to every invocation after it. A warp's mma is a
 * meeting too: each invocation yields its registers, and once all have arrived each warp's D
 * fragments are computed (emulateMma) and handed back. In debug mode a barrier reached by only
 * some invocations (the others returned) or invocations waiting at different barriers are faults;
 * an mma that not every lane of a warp reaches is always one.
 */
export function runLockstep(invocation: Invocation, sx: number, sy: number, sz: number, debug: boolean): void {
  const n = sx * sy * sz;
  const gens: Generator<Meeting, void, number[] | undefined>[] = new Array(n);
  for (let z = 0, i = 0; z < sz; z++) for (let y = 0; y < sy; y++) for (let x = 0; x < sx; x++, i++) gens[i] = invocation(x, y, z, i);
  const coords = (i: number) => [i % sx, Math.floor(i / sx) % sy, Math.floor(i / (sx * sy))];
  const done = new Uint8Array(n);
  const met: (Meeting | undefined)[] = new Array(n);
  const resume: (number[] | undefined)[] = new Array(n);
  const id = (m: Meeting) => (typeof m === "number" ? `#${m}` : `mma #${m.mma}`);
  let remaining = n;
  while (remaining > 0) {
    let meeting: Meeting | undefined;
    let waiting = 0;
    let first = 0;
    for (let i = 0; i < n; i++) {
      met[i] = undefined;
      if (done[i]) continue;
      let step: IteratorResult<Meeting, void>;
      try {
        step = gens[i]!.next(resume[i]);
      } catch (e) {
        if (e instanceof InvocationFault) e.invocation ??= coords(i);
        throw e;
      }
      resume[i] = undefined;
      if (step.done) {
        done[i] = 1;
        remaining--;
        continue;
      }
      met[i] = step.value;
      if (waiting++ === 0) {
        meeting = step.value;
        first = i;
      } else if ((debug || typeof meeting !== "number" || typeof step.value !== "number") && id(step.value) !== id(meeting!)) {
        const fault = new InvocationFault(`invocations wait at different barriers: (${coords(first).join(", ")}) at ${id(meeting!)}, (${coords(i).join(", ")}) at ${id(step.value)}`);
        fault.invocation = coords(i);
        throw fault;
      }
    }
    if (meeting !== undefined && typeof meeting !== "number") {
      for (let w = 0; w < n; w += WARP) {
        const lanes = met.slice(w, w + WARP);
        const missing = lanes.findIndex((m) => m === undefined);
        if (missing >= 0) throw new InvocationFault(`mma #${meeting.mma} was reached by only some lanes of warp ${w / WARP}: invocation (${coords(w + missing).join(", ")}) had returned`);
        const d = emulateMma(meeting.shape, lanes.map((m) => (m as Exclude<Meeting, number>).lane));
        d.forEach((v, l) => (resume[w + l] = v));
      }
    } else if (debug && waiting > 0 && waiting < n) {
      const missing = [...done.keys()].find((i) => done[i])!;
      throw new InvocationFault(`barrier #${meeting} was reached by ${waiting} of ${n} invocations; invocation (${coords(missing).join(", ")}) and ${n - waiting - 1} other(s) had returned`);
    }
  }
}
