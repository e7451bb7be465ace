import { CAST } from "./cast.js";
import { ADD, COS, DIV, EQUAL, EXP, LESS, LOG, MAXIMUM, MUL, NEG, RECIP, SIN, SQRT, SUB, WHERE } from "./elementwise.js";
import { GATHER, SCATTER_ADD } from "./indexing.js";
import { MATMUL } from "./matmul.js";
import { RAND } from "./random.js";
import { MAX, SUM } from "./reduce.js";
import { SCAN } from "./scan.js";
import { CONCAT, EXPAND, PAD, PERMUTE, RESHAPE, SLICE } from "./views.js";

/**
 * The closed set of primitive ops: a backend that implements these 29 runs every model, because
 * every composite op decomposes into them. Adding one is a breaking change to the op interface.
 */
export const PRIMITIVE_OPS = [
  NEG, EXP, LOG, SIN, COS, SQRT, RECIP,
  ADD, SUB, MUL, DIV, MAXIMUM, LESS, EQUAL, WHERE,
  SUM, MAX,
  MATMUL,
  RESHAPE, PERMUTE, SLICE, EXPAND, CONCAT, PAD,
  GATHER, SCATTER_ADD,
  CAST,
  SCAN,
  RAND,
] as const;

export const PRIMITIVE_NAMES: ReadonlySet<string> = new Set(PRIMITIVE_OPS.map((d) => d.name));
