import { DenseSSMError, ShapeError } from "../errors.js";
import type { AnyStorage } from "../tensor/dtype.js";
import { formatShape } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";

/**
 * Where a decoder stands, copied to host memory: each row's recurrent state (by StateSpec name),
 * the logits that predict its next token, and the tokens it has been fed (the repetition penalty's
 * memory; their count is the position). An SSM's whole context is this fixed-size state, so
 * saving, restoring and forking a prompt costs a copy of a few megabytes at most, however long
 * the prompt was.
 *
 * Treat it as an opaque handle: `decoder.snapshot()` makes one, `decoder.restore`,
 * `lm.resumeDecoding` and `decoder.fork` continue from it, `lm.serializeState` turns it into bytes
 * (and `lm.deserializeState` back, checking it belongs to the model). It is immutable.
 */
export class DecoderSnapshot {
  /** @internal Made by decoders; see `Decoder.snapshot`. */
  constructor(
    readonly state: Readonly<Record<string, Tensor>>,
    /** [batch, vocab]: the next token's logits of each row. */
    readonly logits: Tensor,
    /** The tokens each row has been fed, all rows equally many. */
    readonly tokens: readonly (readonly number[])[],
  ) {
    const batch = tokens.length;
    if (batch === 0) throw new DenseSSMError("a decoder snapshot needs at least one row");
    const position = tokens[0]!.length;
    if (tokens.some((row) => row.length !== position)) throw new ShapeError("decoder snapshot: every row must have been fed equally many tokens");
    if (logits.shape.length !== 2 || logits.shape[0] !== batch) throw new ShapeError(`decoder snapshot: logits must be [${batch}, vocab], got ${formatShape(logits.shape)}`);
    for (const [name, t] of Object.entries(state)) {
      if (t.shape[0] !== batch) throw new ShapeError(`decoder snapshot: state "${name}" ${formatShape(t.shape)} does not have ${batch} rows`);
    }
  }

  get batch(): number {
    return this.tokens.length;
  }

  /** Tokens fed per row. */
  get position(): number {
    return this.tokens[0]!.length;
  }

  /** Host memory held (state, logits and tokens), for caches bounded in bytes. */
  get byteLength(): number {
    return Object.values(this.state).reduce((n, t) => n + t.data.byteLength, this.logits.data.byteLength + this.batch * this.position * 4);
  }

  /** The rows at `rows` (repeats allowed): one stream of a batch, or `fork`'s copies. */
  select(rows: readonly number[]): DecoderSnapshot {
    for (const r of rows) if (!Number.isInteger(r) || r < 0 || r >= this.batch) throw new DenseSSMError(`decoder snapshot: row ${r} is not in [0, ${this.batch})`);
    const state = Object.fromEntries(Object.entries(this.state).map(([name, t]) => [name, selectRows(t, rows)]));
    return new DecoderSnapshot(state, selectRows(this.logits, rows), rows.map((r) => this.tokens[r]!));
  }
}

/** Rows of `t` along axis 0, in the given order (a fresh tensor). */
function selectRows(t: Tensor, rows: readonly number[]): Tensor {
  const batch = t.shape[0]!;
  const width = batch === 0 ? 0 : t.size / batch;
  const src = t.data;
  const out = new (src.constructor as new (n: number) => AnyStorage)(rows.length * width);
  rows.forEach((r, i) => out.set(src.subarray(r * width, (r + 1) * width) as never, i * width));
  return new Tensor(out, [rows.length, ...t.shape.slice(1)], t.dtype);
}
