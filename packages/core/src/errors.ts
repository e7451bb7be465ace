/**
 * Every error DenseSSM.js throws on bad input is one of these, and its message names the
 * offending thing (the op, the tensor, the file, the key) and what was expected instead.
 */
export class DenseSSMError extends Error {
  override name = "DenseSSMError";
}

/** A shape that an op or a file cannot accept. */
export class ShapeError extends DenseSSMError {
  override name = "ShapeError";
}

/** A dtype that an op or a file cannot accept. */
export class DTypeError extends DenseSSMError {
  override name = "DTypeError";
}

/** A malformed or inconsistent file (safetensors, config, checkpoint). */
export class FormatError extends DenseSSMError {
  override name = "FormatError";
}

/** A backend that is unknown, unavailable, or cannot run what it was given. */
export class BackendError extends DenseSSMError {
  override name = "BackendError";
}
