import { defaultRng, type Rng } from "../runtime/rng.js";
import { numel, type Shape } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";

/** Fills a new float32 tensor element by element. */
function fill(shape: Shape, f: () => number): Tensor {
  const data = new Float32Array(numel(shape));
  for (let i = 0; i < data.length; i++) data[i] = f();
  return new Tensor(data, shape, "float32");
}

export const init = {
  zeros: (shape: Shape): Tensor => Tensor.zeros(shape),
  ones: (shape: Shape): Tensor => Tensor.full(shape, 1),
  constant: (shape: Shape, value: number): Tensor => Tensor.full(shape, value),
  uniform: (shape: Shape, low: number, high: number, rng: Rng = defaultRng()): Tensor => fill(shape, () => low + (high - low) * rng.uniform()),
  normal: (shape: Shape, std = 1, mean = 0, rng: Rng = defaultRng()): Tensor => fill(shape, () => mean + std * rng.normal()),
  /** PyTorch's default for Linear weights and biases: U(-1/sqrt(fanIn), 1/sqrt(fanIn)). */
  fanInUniform: (shape: Shape, fanIn: number, rng: Rng = defaultRng()): Tensor => {
    const bound = 1 / Math.sqrt(fanIn);
    return fill(shape, () => -bound + 2 * bound * rng.uniform());
  },
};
