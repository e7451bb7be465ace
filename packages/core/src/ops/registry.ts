import { DenseSSMError } from "../errors.js";
import type { Attrs } from "../graph/graph.js";
import type { SymTensor } from "../graph/symbolic.js";
import type { DType } from "../tensor/dtype.js";
import type { Shape } from "../tensor/shape.js";

export interface TypeInfo {
  readonly shape: Shape;
  readonly dtype: DType;
}

/** What a gradient rule sees: the op's inputs and output in the graph being differentiated. */
export interface GradContext<A extends Attrs = Attrs> {
  readonly inputs: readonly SymTensor[];
  readonly output: SymTensor;
  /** dLoss/dOutput. */
  readonly grad: SymTensor;
  readonly attrs: A;
}

/**
 * A gradient rule returns dLoss/dInput for each input (undefined where the input gets none). It is
 * written with the same symbolic ops as model code, so gradients are themselves graph nodes that
 * every backend runs: no backend writes backward code.
 */
export type GradRule<A extends Attrs = Attrs> = (ctx: GradContext<A>) => readonly (SymTensor | undefined)[];

// Op hooks are declared as methods (not function-valued properties) so a def with narrower attrs,
// like `{ axis: number }`, is still an OpDef: attrs are checked where the op is emitted.

interface OpDefBase<A extends Attrs> {
  readonly name: string;
  /** One line for docs and `printGraph`. */
  readonly doc: string;
  /** Output shape and dtype; throws ShapeError/DTypeError naming the op and the problem. */
  infer(inputs: readonly TypeInfo[], attrs: A): TypeInfo;
  grad?(ctx: GradContext<A>): readonly (SymTensor | undefined)[];
}

/** Graph leaves: inputs, parameters, constants. */
export interface SourceOpDef<A extends Attrs = Attrs> extends OpDefBase<A> {
  readonly kind: "source";
}

/** One of the closed set of ops every backend must implement. */
export interface PrimitiveOpDef<A extends Attrs = Attrs> extends OpDefBase<A> {
  readonly kind: "primitive";
}

/**
 * An op with a reference decomposition into other ops. Backends may run it as a fused kernel; a
 * backend that does not gets the decomposition, so a new backend runs every model from day one.
 * Without a `grad` rule, autodiff differentiates through the decomposition.
 */
export interface CompositeOpDef<A extends Attrs = Attrs> extends OpDefBase<A> {
  readonly kind: "composite";
  decompose(inputs: readonly SymTensor[], attrs: A): SymTensor;
}

export type OpDef<A extends Attrs = Attrs> = SourceOpDef<A> | PrimitiveOpDef<A> | CompositeOpDef<A>;

const registry = new Map<string, OpDef>();

/**
 * Registers an op definition; composites from any package register the same way. The attrs type
 * is inferred from `infer`'s second parameter and checked in `grad` and `decompose`.
 */
export function defineOp<A extends Attrs>(def: PrimitiveOpDef<A>): PrimitiveOpDef<A>;
export function defineOp<A extends Attrs>(def: CompositeOpDef<A>): CompositeOpDef<A>;
export function defineOp<A extends Attrs>(def: SourceOpDef<A>): SourceOpDef<A>;
export function defineOp(def: OpDef): OpDef {
  const existing = registry.get(def.name);
  if (existing && existing !== def) throw new DenseSSMError(`op "${def.name}" is defined twice`);
  registry.set(def.name, def);
  return def;
}

export function getOp(name: string): OpDef {
  const def = registry.get(name);
  if (!def) throw new DenseSSMError(`unknown op "${name}": import the package that defines it (known: ${[...registry.keys()].sort().join(", ")})`);
  return def;
}

export function listOps(kind?: OpDef["kind"]): OpDef[] {
  return [...registry.values()].filter((d) => !kind || d.kind === kind);
}
