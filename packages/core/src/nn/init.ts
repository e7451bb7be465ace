import { defaultRng, type Rng } from "../runtime/rng.js";
import { numel, type Shape } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";

// While a model is built only to receive checkpoint weights (`withoutInitialization`), every
// initialiser returns zeros: no random numbers are drawn and nothing is written, so the buffers
// stay untouched zero pages until the loaded tensors replace them.
let skipping = 0;

/** Fills a new float32 tensor element by element (zeros while initialisation is skipped). */
function fill(shape: Shape, f: () => number): Tensor {
  if (skipping) return Tensor.zeros(shape);
  const data = new Float32Array(numel(shape));
  for (let i = 0; i < data.length; i++) data[i] = f();
  return new Tensor(data, shape, "float32");
}

export const init = {
  zeros: (shape: Shape): Tensor => Tensor.zeros(shape),
  ones: (shape: Shape): Tensor => (skipping ? Tensor.zeros(shape) : Tensor.full(shape, 1)),
  constant: (shape: Shape, value: number): Tensor => (skipping ? Tensor.zeros(shape) : Tensor.full(shape, value)),
  uniform: (shape: Shape, low: number, high: number, rng: Rng = defaultRng()): Tensor => fill(shape, () => low + (high - low) * rng.uniform()),
  normal: (shape: Shape, std = 1, mean = 0, rng: Rng = defaultRng()): Tensor => fill(shape, () => mean + std * rng.normal()),
  /** PyTorch's default for Linear weights and biases: U(-1/sqrt(fanIn), 1/sqrt(fanIn)). */
  fanInUniform: (shape: Shape, fanIn: number, rng: Rng = defaultRng()): Tensor => {
    const bound = 1 / Math.sqrt(fanIn);
    return fill(shape, () => -bound + 2 * bound * rng.uniform());
  },
};

/**
 * Builds modules without initialising them (like PyTorch's `init_empty_weights`): inside `build`,
 * `init` returns zeros, so a model about to load a checkpoint costs no RNG work and no memory
 * beyond the zero pages the weights then replace.
 */
export function withoutInitialization<T>(build: () => T): T {
  skipping++;
  try {
    return build();
  } finally {
    skipping--;
  }
}
