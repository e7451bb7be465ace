import { FormatError } from "../errors.js";
import { isFloat, type DType } from "../tensor/dtype.js";
import { formatShape, sameShape } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";
import { Parameter } from "./parameter.js";

/**
 * Base class of every layer and model. Parameters and child modules are found by walking the
 * object's own properties in declaration order (arrays of modules count as `name.0`, `name.1`, ...),
 * so a property path is the state_dict key: `model.layers.0.self_attn.q_proj.weight`. Name the
 * properties after the checkpoint layout you want to load (snake_case for PyTorch checkpoints).
 */
export abstract class Module {
  training = true;

  /** Every parameter with its dotted name. A parameter shared by two paths is listed once. */
  namedParameters(prefix = ""): [string, Parameter][] {
    const seen = new Set<Parameter>();
    return this.allNamedParameters(prefix).filter(([, p]) => (seen.has(p) ? false : (seen.add(p), true)));
  }

  /** Like namedParameters, but a shared (tied) parameter appears under each of its names. */
  allNamedParameters(prefix = ""): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    const visit = (value: unknown, path: string): void => {
      if (value instanceof Parameter) out.push([path, value]);
      else if (value instanceof Module) for (const [k, v] of Object.entries(value)) visit(v, path ? `${path}.${k}` : k);
      else if (Array.isArray(value)) value.forEach((v, i) => visit(v, `${path}.${i}`));
    };
    for (const [k, v] of Object.entries(this)) visit(v, prefix ? `${prefix}.${k}` : k);
    return out;
  }

  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Total model scalars (shared parameters counted once; a quantized weight by its rows × cols). */
  numParameters(): number {
    return this.parameters().reduce((n, p) => n + (p.logicalSize ?? p.value.size), 0);
  }

  /** Child modules, this one included. */
  modules(): Module[] {
    return this.namedModules().map(([, m]) => m);
  }

  /** Child modules, this one included (as ""), with their dotted names; a shared module is listed once. */
  namedModules(): [string, Module][] {
    const out: [string, Module][] = [];
    const seen = new Set<Module>();
    const visit = (value: unknown, path: string): void => {
      if (value instanceof Module) {
        if (seen.has(value)) return;
        seen.add(value);
        out.push([path, value]);
        for (const [k, v] of Object.entries(value)) visit(v, path ? `${path}.${k}` : k);
      } else if (Array.isArray(value)) value.forEach((v, i) => visit(v, `${path}.${i}`));
    };
    visit(this, "");
    return out;
  }

  /** Switches this module and its children between training (dropout on) and evaluation. */
  train(on = true): this {
    for (const m of this.modules()) m.training = on;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Parameter values by state_dict name; tied parameters appear under every name, like PyTorch. */
  stateDict(): Map<string, Tensor> {
    return new Map(this.allNamedParameters().map(([name, p]) => [name, p.value]));
  }

  /**
   * Assigns parameters from a state dict. A parameter shared under several names (tied weights)
   * may be stored under any of them, or under several if they hold the same values. Every problem
   * is collected and reported in one error that names each key: missing, unexpected (unless
   * `strict` is false), of the wrong shape, integer where floats belong, or tied but different.
   * `keepMissing` names parameters that may be absent and then keep their current values. Float
   * values convert to the parameter's dtype (float16/bfloat16 widen to float32); integer ones
   * (quantized codes) must match it.
   */
  loadStateDict(dict: ReadonlyMap<string, Tensor>, options: { strict?: boolean; keepMissing?: (name: string) => boolean } = {}): void {
    const strict = options.strict ?? true;
    const params = this.allNamedParameters();
    const names = new Map<Parameter, string[]>();
    for (const [name, p] of params) names.set(p, [...(names.get(p) ?? []), name]);
    const problems: string[] = [];
    const chosen = new Map<Parameter, [string, Tensor]>();
    for (const [p, aliases] of names) {
      const present = aliases.filter((n) => dict.has(n));
      if (present.length === 0) {
        if (!aliases.every((n) => options.keepMissing?.(n))) problems.push(`missing tensor "${aliases[0]}" (expected ${formatShape(p.shape)}${aliases.length > 1 ? `; tied with ${aliases.slice(1).map((n) => `"${n}"`).join(", ")}` : ""})`);
        continue;
      }
      const [first, ...others] = present.map((n) => [n, dict.get(n)!] as [string, Tensor]);
      let ok = true;
      for (const [name, t] of [first!, ...others]) {
        if (!sameShape(t.shape, p.shape)) problems.push(`tensor "${name}" has shape ${formatShape(t.shape)}, expected ${formatShape(p.shape)}`);
        else if (!compatibleDType(t.dtype, p.value.dtype)) problems.push(`tensor "${name}" is ${t.dtype}; expected ${isFloat(p.value.dtype) ? "floating point weights" : p.value.dtype}`);
        else continue;
        ok = false;
      }
      for (const [name, t] of others) {
        if (ok && !sameValues(first![1], t)) {
          problems.push(`tensors "${first![0]}" and "${name}" are tied in this model (one parameter) but differ in the checkpoint`);
          ok = false;
        }
      }
      if (ok) chosen.set(p, first!);
    }
    if (strict) {
      const known = new Set(params.map(([n]) => n));
      for (const name of dict.keys()) if (!known.has(name)) problems.push(`unexpected tensor "${name}"`);
    }
    if (problems.length) throw new FormatError(`cannot load state dict:\n  ${listProblems(problems)}`);
    for (const [p, [name, t]] of chosen) p.assign(t.dtype === p.value.dtype ? t : t.to(p.value.dtype), name);
  }
}

/** Float weights load from any float dtype (widened to the parameter's); integer ones (ids, quantized codes) only as they are. */
function compatibleDType(file: DType, parameter: DType): boolean {
  return isFloat(parameter) ? isFloat(file) : file === parameter;
}

/** At most 20 problems, then how many more: a 300-layer mismatch stays readable. */
function listProblems(problems: readonly string[], limit = 20): string {
  const shown = problems.slice(0, limit).join("\n  ");
  return problems.length > limit ? `${shown}\n  ... and ${problems.length - limit} more` : shown;
}

function sameValues(a: Tensor, b: Tensor): boolean {
  if (a === b) return true;
  if (a.dtype === b.dtype) {
    const x = new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
    const y = new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength);
    return x.length === y.length && x.every((v, i) => v === y[i]);
  }
  const x = a.toFloat32();
  const y = b.toFloat32();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}
