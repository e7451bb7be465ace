import { InvocationFault } from "./helpers.js";

type Invocation = (x: number, y: number, z: number, index: number) => Generator<number, void, void>;

/**
 * Runs one workgroup of a kernel with barriers: every invocation is a generator that yields the
 * id of each barrier it reaches; all of them run up to the next barrier, then all continue, so
 * memory written before a barrier is visible to every invocation after it. In debug mode a
 * barrier reached by only some invocations (the others returned) or invocations waiting at
 * different barriers are faults.
 */
export function runLockstep(invocation: Invocation, sx: number, sy: number, sz: number, debug: boolean): void {
  const n = sx * sy * sz;
  const gens: Generator<number, void, void>[] = new Array(n);
  for (let z = 0, i = 0; z < sz; z++) for (let y = 0; y < sy; y++) for (let x = 0; x < sx; x++, i++) gens[i] = invocation(x, y, z, i);
  const coords = (i: number) => [i % sx, Math.floor(i / sx) % sy, Math.floor(i / (sx * sy))];
  const done = new Uint8Array(n);
  let remaining = n;
  while (remaining > 0) {
    let barrier = -1;
    let waiting = 0;
    let first = 0;
    for (let i = 0; i < n; i++) {
      if (done[i]) continue;
      let step: IteratorResult<number, void>;
      try {
        step = gens[i]!.next();
      } catch (e) {
        if (e instanceof InvocationFault) e.invocation ??= coords(i);
        throw e;
      }
      if (step.done) {
        done[i] = 1;
        remaining--;
      } else if (waiting++ === 0) {
        barrier = step.value;
        first = i;
      } else if (debug && step.value !== barrier) {
        const fault = new InvocationFault(`invocations wait at different barriers: (${coords(first).join(", ")}) at #${barrier}, (${coords(i).join(", ")}) at #${step.value}`);
        fault.invocation = coords(i);
        throw fault;
      }
    }
    if (debug && waiting > 0 && waiting < n) {
      const missing = [...done.keys()].find((i) => done[i])!;
      throw new InvocationFault(`barrier #${barrier} was reached by ${waiting} of ${n} invocations; invocation (${coords(missing).join(", ")}) and ${n - waiting - 1} other(s) had returned`);
    }
  }
}
