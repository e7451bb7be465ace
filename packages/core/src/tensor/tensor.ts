import { DTypeError, ShapeError } from "../errors.js";
import { allocate, convert, reader, type AnyStorage, type DType } from "./dtype.js";
import { assertValidShape, formatShape, numel, type Shape } from "./shape.js";

/** Nested JS arrays of numbers, as produced by `Tensor.toArray()` and accepted by `Tensor.fromArray()`. */
export type NestedArray = number | NestedArray[];

/**
 * A host tensor: a dense, row-major typed array with a shape and a dtype. This is what goes in and
 * out of graphs, what safetensors files hold, and what optimizers update. Backends keep their own
 * device copies (see `Backend.upload`).
 */
export class Tensor<D extends DType = DType> {
  readonly shape: Shape;
  readonly dtype: D;
  readonly data: AnyStorage;

  constructor(data: AnyStorage, shape: Shape, dtype: D) {
    assertValidShape(shape, "Tensor");
    const n = numel(shape);
    if (data.length !== n) {
      throw new ShapeError(`Tensor: ${data.length} elements do not fill shape ${formatShape(shape)} (${n} elements)`);
    }
    const expected = allocate(dtype, 0).constructor;
    if (data.constructor !== expected) {
      throw new DTypeError(`Tensor: dtype ${dtype} is stored in a ${expected.name}, got a ${data.constructor.name}`);
    }
    this.data = data;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
  }

  get size(): number {
    return this.data.length;
  }

  get rank(): number {
    return this.shape.length;
  }

  static zeros<D extends DType = "float32">(shape: Shape, dtype: D = "float32" as D): Tensor<D> {
    assertValidShape(shape, "Tensor.zeros");
    return new Tensor(allocate(dtype, numel(shape)), shape, dtype);
  }

  static full(shape: Shape, value: number, dtype: DType = "float32"): Tensor {
    const t = Tensor.zeros(assertValidShape(shape, "Tensor.full"), dtype);
    if (value !== 0) t.data.fill(convert(Float32Array.of(value), "float32", dtype)[0]!);
    return t;
  }

  static scalar(value: number, dtype: DType = "float32"): Tensor {
    return Tensor.fromArray([value], [], dtype);
  }

  static float32(data: ArrayLike<number>, shape: Shape = [data.length]): Tensor<"float32"> {
    return new Tensor(Float32Array.from(data), shape, "float32");
  }

  static int32(data: ArrayLike<number>, shape: Shape = [data.length]): Tensor<"int32"> {
    return new Tensor(Int32Array.from(data), shape, "int32");
  }

  /** Builds a tensor from (possibly nested) JS numbers; the shape is inferred when not given. */
  static fromArray(values: NestedArray, shape?: Shape, dtype: DType = "float32"): Tensor {
    const inferred = shape ?? inferShape(values);
    const flat = typeof values === "number" ? [values] : ((values as unknown[]).flat(Infinity) as number[]);
    if (flat.length !== numel(inferred)) {
      throw new ShapeError(`Tensor.fromArray: ${flat.length} values do not fill shape ${formatShape(inferred)}`);
    }
    const f32 = Float32Array.from(flat);
    if (dtype === "int32") return new Tensor(Int32Array.from(flat), inferred, "int32");
    return new Tensor(dtype === "float32" ? f32 : convert(f32, "float32", dtype), inferred, dtype);
  }

  /** Converts to another dtype (always a copy). */
  to<T extends DType>(dtype: T): Tensor<T> {
    return new Tensor(convert(this.data, this.dtype, dtype), this.shape, dtype);
  }

  /** The values as float32, without copying when they already are. */
  toFloat32(): Float32Array {
    return this.dtype === "float32" ? (this.data as Float32Array) : (convert(this.data, this.dtype, "float32") as Float32Array);
  }

  /** Same data, new shape (no copy). */
  reshape(shape: Shape): Tensor<D> {
    return new Tensor(this.data, shape, this.dtype);
  }

  clone(): Tensor<D> {
    return new Tensor(this.data.slice(), this.shape, this.dtype);
  }

  /** Element i as a JS number, whatever the storage dtype. */
  get(i: number): number {
    return reader(this.data, this.dtype)(i);
  }

  item(): number {
    if (this.size !== 1) throw new ShapeError(`Tensor.item: tensor of shape ${formatShape(this.shape)} has ${this.size} elements, not 1`);
    return this.get(0);
  }

  /** Nested JS arrays, for JSON and tests. */
  toArray(): NestedArray {
    const read = reader(this.data, this.dtype);
    let offset = 0;
    const build = (dim: number): NestedArray => {
      if (dim === this.shape.length) return read(offset++);
      const out: NestedArray[] = [];
      for (let i = 0; i < this.shape[dim]!; i++) out.push(build(dim + 1));
      return out;
    };
    return build(0);
  }

  toString(): string {
    return `Tensor(${this.dtype}, ${formatShape(this.shape)})`;
  }
}

function inferShape(values: NestedArray): number[] {
  const shape: number[] = [];
  let v: NestedArray = values;
  while (Array.isArray(v)) {
    shape.push(v.length);
    if (v.length === 0) break;
    v = v[0]!;
  }
  return shape;
}
