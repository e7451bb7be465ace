import { ShapeError } from "../errors.js";
import { currentBuilder, type ParameterLike, type SymTensor } from "../graph/symbolic.js";
import { formatShape, sameShape } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";

/**
 * A trainable tensor owned by a module. Model code uses it like a symbolic tensor (ops accept it
 * directly, or through `.sym`); the graph refers to it by its state_dict name, and sessions bind
 * its value. `version` changes on every assignment, so sessions know when to upload again.
 */
export class Parameter implements ParameterLike {
  readonly isParameter = true as const;
  private current: Tensor;
  version = 0;
  requiresGrad: boolean;
  /**
   * The model scalars this parameter stands for, when that is not its size: the rows × cols of a
   * quantized weight's codes, 0 for its scales. Parameter counts use it.
   */
  readonly logicalSize: number | undefined;

  constructor(value: Tensor, options: { requiresGrad?: boolean; logicalSize?: number } = {}) {
    this.current = value;
    this.requiresGrad = options.requiresGrad ?? true;
    this.logicalSize = options.logicalSize;
  }

  get value(): Tensor {
    return this.current;
  }

  get shape(): readonly number[] {
    return this.current.shape;
  }

  /** Replaces the value (same shape required) and bumps the version. */
  assign(value: Tensor, name = "parameter"): void {
    if (!sameShape(value.shape, this.current.shape)) throw new ShapeError(`${name}: expected shape ${formatShape(this.current.shape)}, got ${formatShape(value.shape)}`);
    this.current = value;
    this.version++;
  }

  /** Call after mutating `value.data` in place (optimizers do). */
  markUpdated(): void {
    this.version++;
  }

  /** This parameter as a node of the graph being traced. */
  get sym(): SymTensor {
    return currentBuilder().paramOf(this);
  }
}
