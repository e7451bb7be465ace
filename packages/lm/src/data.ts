import { DenseSSMError, Rng, Tensor } from "@densessm/core";

/** Reads text files, and every .txt/.md file inside folders (sorted, so runs are reproducible). */
export async function readCorpus(paths: readonly string[]): Promise<{ text: string; files: string[] }> {
  const { readdir, readFile, stat } = await import("node:fs/promises");
  const { join } = await import("node:path");
  if (paths.length === 0) throw new DenseSSMError("no training data: pass at least one text file or folder");
  const files: string[] = [];
  for (const p of paths) {
    let info;
    try {
      info = await stat(p);
    } catch {
      throw new DenseSSMError(`data path ${p} does not exist`);
    }
    if (info.isDirectory()) {
      const inside = (await readdir(p, { recursive: true })).filter((f) => /\.(txt|md)$/i.test(f)).sort();
      if (inside.length === 0) throw new DenseSSMError(`data folder ${p} has no .txt or .md files`);
      files.push(...inside.map((f) => join(p, f)));
    } else files.push(p);
  }
  const parts = await Promise.all(files.map((f) => readFile(f, "utf8")));
  const text = parts.join("\n");
  if (text.trim().length === 0) throw new DenseSSMError(`the training data (${files.join(", ")}) is empty`);
  return { text, files };
}

/** A token stream split into a training part and a held-out tail for validation. */
export interface TokenSplits {
  train: Int32Array;
  validation: Int32Array;
}

export function splitTokens(tokens: Int32Array, validationFraction: number, sequenceLength: number): TokenSplits {
  if (!(validationFraction > 0 && validationFraction < 1)) throw new DenseSSMError(`validation fraction must be in (0, 1), got ${validationFraction}`);
  const cut = Math.floor(tokens.length * (1 - validationFraction));
  const split = { train: tokens.subarray(0, cut), validation: tokens.subarray(cut) };
  for (const [name, part] of Object.entries(split)) {
    if (part.length < sequenceLength + 1) {
      throw new DenseSSMError(`the ${name} split has ${part.length} tokens, fewer than one sequence of ${sequenceLength + 1}: use more data or a shorter --seq-len`);
    }
  }
  return split;
}

/**
 * Random windows of `length` tokens from a stream, drawn with its own seeded generator. Its
 * whole state is the generator's, so a checkpoint that saves it resumes the exact batch order.
 */
export class BatchSampler {
  readonly rng: Rng;

  constructor(
    private readonly tokens: Int32Array,
    readonly batchSize: number,
    readonly length: number,
    seed: number,
  ) {
    this.rng = new Rng(seed);
    if (tokens.length < length) throw new DenseSSMError(`cannot draw sequences of ${length} tokens from ${tokens.length}`);
  }

  /** input_ids [batch, length] int32 (the model's loss predicts each next token). */
  next(): Tensor {
    const out = new Int32Array(this.batchSize * this.length);
    const span = this.tokens.length - this.length;
    for (let b = 0; b < this.batchSize; b++) {
      const start = this.rng.int(span + 1);
      out.set(this.tokens.subarray(start, start + this.length), b * this.length);
    }
    return new Tensor(out, [this.batchSize, this.length], "int32");
  }
}

/** Consecutive, non-overlapping windows covering a stream (for deterministic evaluation). */
export function evaluationBatches(tokens: Int32Array, batchSize: number, length: number, maxBatches = Infinity): Tensor[] {
  const windows = Math.floor(tokens.length / length);
  const batches: Tensor[] = [];
  for (let w = 0; w + batchSize <= windows && batches.length < maxBatches; w += batchSize) {
    batches.push(new Tensor(tokens.slice(w * length, (w + batchSize) * length), [batchSize, length], "int32"));
  }
  if (batches.length === 0) throw new DenseSSMError(`evaluation needs ${batchSize * length} tokens, the split has ${tokens.length}`);
  return batches;
}
