import { DenseSSMError, DTypeError } from "../errors.js";
import type { CompositeOpDef, OpDef } from "../ops/registry.js";
import { defineOp, getOp } from "../ops/registry.js";
import { isFloat, type DType } from "../tensor/dtype.js";
import { assertValidShape, type Shape } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import type { Attrs, Binding, Graph, Node } from "./graph.js";
import * as api from "../ops/api.js";

/** Something that can stand for a tensor in model code: a symbolic tensor, a parameter, or a number. */
export type TensorLike = SymTensor | ParameterLike | number;

/** Anything with a host value that the builder binds as a named graph parameter (see nn.Parameter). */
export interface ParameterLike {
  readonly value: Tensor;
  readonly isParameter: true;
}

/** Decides, while tracing, whether a composite op stays one node or is replaced by its decomposition. */
export type ExpandPolicy = (def: CompositeOpDef) => boolean;

/**
 * Model code runs against symbolic tensors: each op call appends a node to the graph being built and
 * returns a new symbolic tensor whose shape and dtype are already known. Methods mirror the
 * functional API in `ops`, so model code reads like the equations: `q.matmul(k.transpose(-1, -2))`.
 */
export class SymTensor {
  constructor(
    readonly builder: GraphBuilder,
    readonly id: number,
  ) {}

  get node(): Node {
    return this.builder.nodes[this.id]!;
  }
  get shape(): Shape {
    return this.node.shape;
  }
  get dtype(): DType {
    return this.node.dtype;
  }
  get rank(): number {
    return this.shape.length;
  }
  /** Size of one dimension; negative axes count from the end. */
  dim(axis: number): number {
    const d = this.shape[axis < 0 ? this.rank + axis : axis];
    if (d === undefined) throw new DenseSSMError(`dim: axis ${axis} is out of range for shape [${this.shape.join(", ")}]`);
    return d;
  }

  add(b: TensorLike): SymTensor { return api.add(this, b); }
  sub(b: TensorLike): SymTensor { return api.sub(this, b); }
  mul(b: TensorLike): SymTensor { return api.mul(this, b); }
  div(b: TensorLike): SymTensor { return api.div(this, b); }
  maximum(b: TensorLike): SymTensor { return api.maximum(this, b); }
  less(b: TensorLike): SymTensor { return api.less(this, b); }
  equal(b: TensorLike): SymTensor { return api.equal(this, b); }
  neg(): SymTensor { return api.neg(this); }
  exp(): SymTensor { return api.exp(this); }
  log(): SymTensor { return api.log(this); }
  sin(): SymTensor { return api.sin(this); }
  cos(): SymTensor { return api.cos(this); }
  sqrt(): SymTensor { return api.sqrt(this); }
  recip(): SymTensor { return api.recip(this); }
  rsqrt(): SymTensor { return api.rsqrt(this); }
  square(): SymTensor { return api.mul(this, this); }
  sigmoid(): SymTensor { return api.sigmoid(this); }
  silu(): SymTensor { return api.silu(this); }
  softplus(): SymTensor { return api.softplus(this); }
  tanh(): SymTensor { return api.tanh(this); }
  sum(axes?: number | readonly number[], keepdims = false): SymTensor { return api.sum(this, axes, keepdims); }
  max(axes?: number | readonly number[], keepdims = false): SymTensor { return api.max(this, axes, keepdims); }
  mean(axes?: number | readonly number[], keepdims = false): SymTensor { return api.mean(this, axes, keepdims); }
  matmul(b: TensorLike): SymTensor { return api.matmul(this, b); }
  reshape(shape: readonly number[]): SymTensor { return api.reshape(this, shape); }
  permute(perm: readonly number[]): SymTensor { return api.permute(this, perm); }
  transpose(a = -2, b = -1): SymTensor { return api.transpose(this, a, b); }
  slice(axis: number, start: number, end?: number): SymTensor { return api.sliceAxis(this, axis, start, end); }
  expand(shape: readonly number[]): SymTensor { return api.expand(this, shape); }
  unsqueeze(axis: number): SymTensor { return api.unsqueeze(this, axis); }
  squeeze(axis: number): SymTensor { return api.squeeze(this, axis); }
  cast(dtype: DType): SymTensor { return api.cast(this, dtype); }
  softmax(axis = -1): SymTensor { return api.softmax(this, axis); }
  logSoftmax(axis = -1): SymTensor { return api.logSoftmax(this, axis); }
  /** The same values with no gradient flowing back through them (PyTorch's `detach()`). */
  stopGradient(): SymTensor { return api.stopGradient(this); }

  toString(): string {
    return `SymTensor(%${this.id} ${this.node.op}, ${this.dtype}, [${this.shape.join(", ")}])`;
  }
}

export const INPUT = defineOp({
  name: "input",
  kind: "source",
  doc: "A tensor fed at every run, by name.",
  infer: (_inputs, attrs: Attrs) => ({ shape: attrs.shape as Shape, dtype: attrs.dtype as DType }),
});

export const PARAM = defineOp({
  name: "param",
  kind: "source",
  doc: "A named parameter (its state_dict key), bound once per session.",
  infer: (_inputs, attrs: Attrs) => ({ shape: attrs.shape as Shape, dtype: attrs.dtype as DType }),
});

export const CONST = defineOp({
  name: "const",
  kind: "source",
  doc: "A constant tensor embedded in the graph.",
  infer: (_inputs, attrs: Attrs) => {
    const value = attrs.value as Tensor;
    return { shape: value.shape, dtype: value.dtype };
  },
});

const builders: GraphBuilder[] = [];

/** The builder of the innermost `trace` (or `GraphBuilder.run`) in progress. */
export function currentBuilder(): GraphBuilder {
  const b = builders[builders.length - 1];
  if (!b) throw new DenseSSMError("no graph is being traced: run model code inside trace(...) or GraphBuilder.run(...)");
  return b;
}

export interface GraphBuilderOptions {
  /** Parameter objects and their state_dict names, usually `module.namedParameters()`. */
  parameters?: Iterable<readonly [string, ParameterLike]>;
  /** Which composite ops to replace by their decomposition as they are traced. Default: none. */
  expand?: ExpandPolicy;
}

/** Records op calls into a graph. Usually driven through `trace`. */
export class GraphBuilder {
  readonly nodes: Node[] = [];
  readonly inputs: Binding[] = [];
  readonly params: Binding[] = [];
  readonly outputs: Binding[] = [];
  private readonly paramNames = new Map<ParameterLike, string>();
  private readonly paramIds = new Map<string, number>();
  /** Constant nodes by dtype, shape and a hash of their bytes (a bucket, confirmed byte for byte). */
  private readonly constantIds = new Map<string, number[]>();
  /** Constant nodes by the tensor object already looked up, so passing one tensor again costs no hashing. */
  private readonly constantOf = new Map<Tensor, number>();
  readonly expand: ExpandPolicy;

  constructor(options: GraphBuilderOptions = {}) {
    for (const [name, p] of options.parameters ?? []) this.paramNames.set(p, name);
    this.expand = options.expand ?? (() => false);
  }

  /** Runs `fn` with this builder as the current one (so parameters and numbers resolve to it). */
  run<T>(fn: () => T): T {
    builders.push(this);
    try {
      return fn();
    } finally {
      builders.pop();
    }
  }

  sym(id: number): SymTensor {
    if (!this.nodes[id]) throw new DenseSSMError(`no node %${id} in this graph`);
    return new SymTensor(this, id);
  }

  input(name: string, shape: Shape, dtype: DType = "float32"): SymTensor {
    assertValidShape(shape, `input "${name}"`);
    if (this.inputs.some((b) => b.name === name)) throw new DenseSSMError(`input "${name}" is declared twice`);
    const s = this.push(INPUT, [], { name, shape: [...shape], dtype });
    this.inputs.push({ name, id: s.id });
    return s;
  }

  /** A named parameter node; asking twice for the same name returns the same node. */
  param(name: string, shape: Shape, dtype: DType = "float32"): SymTensor {
    const existing = this.paramIds.get(name);
    if (existing !== undefined) {
      const node = this.nodes[existing]!;
      if (node.shape.join() !== shape.join()) throw new DenseSSMError(`parameter "${name}" used with shapes [${node.shape.join(", ")}] and [${shape.join(", ")}]`);
      return this.sym(existing);
    }
    const s = this.push(PARAM, [], { name, shape: [...shape], dtype });
    this.paramIds.set(name, s.id);
    this.params.push({ name, id: s.id });
    return s;
  }

  /** The node of a registered parameter object. Float storage dtypes (f16/bf16) compute as float32. */
  paramOf(p: ParameterLike): SymTensor {
    const name = this.paramNames.get(p);
    if (name === undefined) {
      throw new DenseSSMError(`a parameter of shape [${p.value.shape.join(", ")}] is used but was not registered with the builder: pass module.namedParameters() to trace()`);
    }
    return this.param(name, p.value.shape, isFloat(p.value.dtype) ? "float32" : p.value.dtype);
  }

  /**
   * A constant node. A graph holds each distinct constant once: asking again for one with the same
   * dtype, shape and bytes returns the existing node, so model code may build the same table in
   * every layer (a decay mask, a position table) and the graph still carries one copy.
   */
  constant(value: Tensor): SymTensor {
    let id = this.constantOf.get(value);
    if (id === undefined) {
      const bits = bitsOf(value);
      const key = `${value.dtype}[${value.shape.join(",")}]#${hashBits(bits)}`;
      const bucket = this.constantIds.get(key) ?? [];
      id = bucket.find((c) => sameBits(bitsOf(this.nodes[c]!.attrs.value as Tensor), bits));
      if (id === undefined) {
        id = this.push(CONST, [], { value }).id;
        this.constantIds.set(key, [...bucket, id]);
      }
      this.constantOf.set(value, id);
    }
    return this.sym(id);
  }

  scalar(value: number, dtype: DType = "float32"): SymTensor {
    return this.constant(Tensor.scalar(value, dtype));
  }

  output(name: string, value: SymTensor): void {
    if (value.builder !== this) throw new DenseSSMError(`output "${name}" belongs to another graph`);
    if (this.outputs.some((b) => b.name === name)) throw new DenseSSMError(`output "${name}" is declared twice`);
    this.outputs.push({ name, id: value.id });
  }

  /**
   * Appends an op. Shapes and dtypes are inferred (and checked) here, at trace time, so a bad
   * shape fails where the model code made it, not inside a backend.
   */
  emit(def: OpDef | string, inputs: readonly SymTensor[], attrs: Attrs = {}): SymTensor {
    const op = typeof def === "string" ? getOp(def) : def;
    for (const x of inputs) if (x.builder !== this) throw new DenseSSMError(`${op.name}: an input belongs to another graph`);
    if (op.kind === "composite" && this.expand(op)) {
      // Type-check against the composite's own signature first, so errors name it, not a primitive.
      op.infer(inputs.map((x) => x.node), attrs);
      return op.decompose(inputs, attrs);
    }
    return this.push(op, inputs.map((x) => x.id), attrs);
  }

  private push(op: OpDef, inputs: number[], attrs: Attrs): SymTensor {
    const { shape, dtype } = op.infer(
      inputs.map((i) => this.nodes[i]!),
      attrs,
    );
    const id = this.nodes.length;
    this.nodes.push({ id, op: op.name, inputs, attrs, shape: Object.freeze([...shape]), dtype });
    return new SymTensor(this, id);
  }

  build(): Graph {
    if (this.outputs.length === 0) throw new DenseSSMError("a graph needs at least one output");
    return { nodes: [...this.nodes], inputs: [...this.inputs], params: [...this.params], outputs: [...this.outputs] };
  }
}

/** A tensor's storage as integers, so equal bits compare equal (-0 and 0 differ, a NaN equals itself). */
type IntegerStorage = Exclude<Tensor["data"], Float32Array>;

function bitsOf(t: Tensor): IntegerStorage {
  const d = t.data;
  return d instanceof Float32Array ? new Int32Array(d.buffer, d.byteOffset, d.length) : d;
}

/** FNV-1a over whole words: one cheap pass, enough to bucket constants (equality is checked after). */
function hashBits(bits: IntegerStorage): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bits.length; i++) h = Math.imul(h ^ bits[i]!, 0x01000193);
  return h >>> 0;
}

function sameBits(a: IntegerStorage, b: IntegerStorage): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Resolves a TensorLike to a node of `builder`; numbers become scalar constants of `dtype`. */
export function toSym(x: TensorLike, builder: GraphBuilder, dtype: DType = "float32"): SymTensor {
  if (x instanceof SymTensor) return x;
  if (typeof x === "number") return builder.scalar(x, dtype);
  if (x && (x as ParameterLike).isParameter) return builder.paramOf(x as ParameterLike);
  throw new DTypeError(`expected a symbolic tensor, a parameter or a number, got ${String(x)}`);
}

/** The builder behind a list of operands: the first symbolic one's, else the current one. */
export function builderOf(...xs: TensorLike[]): GraphBuilder {
  for (const x of xs) if (x instanceof SymTensor) return x.builder;
  return currentBuilder();
}

export interface TraceSpec {
  /** Graph inputs by name. */
  inputs?: Record<string, { shape: Shape; dtype?: DType }>;
  parameters?: Iterable<readonly [string, ParameterLike]>;
  expand?: ExpandPolicy;
}

/**
 * Runs model code against symbolic inputs and returns the graph it describes. `fn` receives the
 * declared inputs and returns the outputs by name.
 *
 *     const graph = trace((x) => ({ y: x.x.mul(2).exp() }), { inputs: { x: { shape: [3] } } });
 */
export function trace(
  fn: (inputs: Record<string, SymTensor>, builder: GraphBuilder) => Record<string, SymTensor>,
  spec: TraceSpec = {},
): Graph {
  const builder = new GraphBuilder({ parameters: spec.parameters, expand: spec.expand });
  return builder.run(() => {
    const inputs: Record<string, SymTensor> = {};
    for (const [name, { shape, dtype }] of Object.entries(spec.inputs ?? {})) inputs[name] = builder.input(name, shape, dtype ?? "float32");
    const outputs = fn(inputs, builder);
    for (const [name, value] of Object.entries(outputs)) builder.output(name, value);
    return builder.build();
  });
}
