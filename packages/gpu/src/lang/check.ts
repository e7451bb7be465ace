import { kernelError } from "./errors.js";
import type { Expr, KernelIR, Stmt } from "./ir.js";

/**
 * Static checks of a finished kernel. Type errors are caught while it is built; this pass checks
 * what needs the whole body: that every barrier is reached in uniform control flow. WGSL rejects a
 * barrier whose reaching depends on the invocation, and CUDA deadlocks or corrupts memory on one,
 * so such a kernel is an error here, before any target sees it.
 *
 * A value is divergent when it depends on the invocation's local or global id, on memory other
 * invocations write (read-write storage, workgroup memory, atomics), or was assigned under
 * divergent control. Control is divergent inside a branch or loop on a divergent condition, after
 * a `return` in divergent control, and through the rest of a loop a divergent `break` or
 * `continue` leaves. The analysis is flow-insensitive for variables (iterated to a fixpoint), so
 * it may reject a kernel a finer analysis would accept, never the reverse for these sources.
 */
export function checkKernel(ir: KernelIR): void {
  const storageWritable = new Set(ir.storage.filter((s) => s.access === "read_write").map((s) => s.name));
  const divergent = new Set<string>();

  const dx = (e: Expr): boolean => {
    switch (e.k) {
      case "lit":
      case "param":
        return false;
      case "builtin":
        return e.name === "globalId" || e.name === "localId" || e.name === "localIndex";
      case "ref":
        return divergent.has(e.name);
      case "load":
        return e.mem.kind === "shared" || (e.mem.kind === "storage" && storageWritable.has(e.mem.name)) || divergent.has(e.mem.name) || dx(e.index);
      case "unary":
      case "convert":
      case "bitcast":
        return dx(e.a);
      case "binary":
        return dx(e.a) || dx(e.b);
      case "call":
        return e.args.some(dx);
      case "select":
        return dx(e.cond) || dx(e.yes) || dx(e.no);
    }
  };

  let errors: string[] = [];
  /** Set by a `return` in divergent control: the rest of the kernel is divergent. */
  let returned = false;

  const mark = (name: string, div: boolean, ...values: Expr[]) => {
    if (div || values.some(dx)) divergent.add(name);
  };

  /** Walks a block; returns whether a break/continue left its innermost loop in divergent control. */
  const walk = (stmts: readonly Stmt[], divIn: boolean): boolean => {
    let escaped = false;
    for (const s of stmts) {
      const div = divIn || returned;
      switch (s.k) {
        case "let":
        case "var":
        case "assign":
          mark(s.name, div, s.value);
          break;
        case "store":
          if (s.mem.kind === "private") mark(s.mem.name, div, s.value, s.index);
          break;
        case "atomic":
          if (s.result) divergent.add(s.result);
          break;
        case "array":
          break;
        case "if": {
          const c = div || dx(s.cond);
          escaped = walk(s.then, c) || escaped;
          escaped = walk(s.else, c) || escaped;
          break;
        }
        case "for":
        case "while": {
          if (s.k === "for") mark(s.name, div, s.init);
          const bodyDiv = (): boolean => div || dx(s.cond) || (s.k === "for" && dx(s.update));
          const saved = errors;
          errors = [];
          // A divergent break or continue makes every later iteration divergent: walk again so.
          if (walk(s.body, bodyDiv())) {
            errors = [];
            walk(s.body, true);
          }
          errors = [...saved, ...errors];
          if (s.k === "for") mark(s.name, bodyDiv(), s.update);
          break;
        }
        case "break":
        case "continue":
          if (div) escaped = true;
          break;
        case "return":
          if (div) returned = true;
          break;
        case "barrier":
          if (div) errors.push(`workgroup barrier #${s.id} is in divergent control flow: it sits in a branch or loop whose condition depends on the invocation (its id, or memory other invocations write), or after such a return or break, so only some invocations would reach it`);
          break;
      }
    }
    return escaped;
  };

  // Iterate until no variable changes from uniform to divergent; report from the last pass.
  for (let size = -1; size !== divergent.size; ) {
    size = divergent.size;
    errors = [];
    returned = false;
    walk(ir.body, false);
  }
  if (errors.length) throw kernelError(errors[0]!, ir.name);
}
