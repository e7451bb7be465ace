import { AdamW, clipGradNorm, DenseSSMError, gradName, learningRateSchedule, Rng, Tensor, type CausalLM, type Session } from "@densessm/core";

// Multi-query associative recall (MQAR), the recall probe of the Zoology benchmark (Arora,
// Eyuboglu et al. 2023, "Zoology: Measuring and Improving Recall in Efficient Language Models"),
// generated on the fly: a sequence opens with N key-value pairs, then the keys come back at
// power-law distributed distances and the model must answer each with its value. It measures
// what a fixed-size recurrent state retains — the paper's "fine-grained information" argument.
//
//   position:  0  1  2  3 …  2N−1 | 2N …                                  L−1
//   input:     k₁ v₁ k₂ v₂ … k_N v_N | r r k₂ r r r k₁ r …   (r: random tokens)
//   target:                          |     v₂       v₁        (only at the queried keys)

/** One MQAR shape: sequence length L and N key-value pairs (4N ≤ L). */
export interface MqarCell {
  readonly seqLen: number;
  readonly kvPairs: number;
}

export interface MqarOptions {
  /** Tokens: keys are drawn from [1, V/2), values from [V/2, V) (default 256; must exceed every seqLen). */
  vocabSize?: number;
  /** The shapes trained on, one batch of each in turn (default L = 64 with N = 4, 8, 16). */
  train?: readonly MqarCell[];
  /** The shapes accuracy is reported for (default L ∈ {64, 128} × N ∈ {4, 8, 16, 32} where 4N ≤ L). */
  test?: readonly MqarCell[];
  steps?: number;
  batchSize?: number;
  lr?: number;
  warmupSteps?: number;
  weightDecay?: number;
  clip?: number;
  /** Sequences per test shape (default 256). */
  testExamples?: number;
  /** Zoology's power-law parameter of the query distances (default 0.01: mostly far). */
  powerA?: number;
  /** Fill non-query positions with random tokens rather than 0, as Zoology does by default (default true). */
  randomNonQueries?: boolean;
}

export type ResolvedMqarOptions = Required<MqarOptions>;

export function resolveMqarOptions(o: MqarOptions = {}): ResolvedMqarOptions {
  const steps = o.steps ?? 1000;
  const r: ResolvedMqarOptions = {
    vocabSize: o.vocabSize ?? 256,
    train: o.train ?? [4, 8, 16].map((kvPairs) => ({ seqLen: 64, kvPairs })),
    test: o.test ?? [64, 128].flatMap((seqLen) => [4, 8, 16, 32].filter((n) => 4 * n <= seqLen).map((kvPairs) => ({ seqLen, kvPairs }))),
    steps,
    batchSize: o.batchSize ?? 32,
    lr: o.lr ?? 3e-3,
    warmupSteps: o.warmupSteps ?? Math.ceil(steps * 0.05),
    weightDecay: o.weightDecay ?? 0.1,
    clip: o.clip ?? 1,
    testExamples: o.testExamples ?? 256,
    powerA: o.powerA ?? 0.01,
    randomNonQueries: o.randomNonQueries ?? true,
  };
  for (const k of ["vocabSize", "steps", "batchSize", "testExamples"] as const) if (!Number.isInteger(r[k]) || r[k] <= 0) throw new DenseSSMError(`mqar: ${k} must be a positive integer, got ${r[k]}`);
  if (!(r.lr > 0) || !(r.powerA > 0)) throw new DenseSSMError("mqar: lr and powerA must be positive");
  if (r.train.length === 0 || r.test.length === 0) throw new DenseSSMError("mqar: give at least one train and one test shape");
  for (const cell of [...r.train, ...r.test]) checkCell(cell, r.vocabSize);
  return r;
}

function checkCell(cell: MqarCell, vocabSize: number): void {
  const { seqLen: L, kvPairs: n } = cell;
  if (!Number.isInteger(L) || !Number.isInteger(n) || n < 1 || L % 2 !== 0) throw new DenseSSMError(`mqar: a shape needs an even seqLen and kvPairs ≥ 1, got ${JSON.stringify(cell)}`);
  if (4 * n > L) throw new DenseSSMError(`mqar: ${n} key-value pairs need seqLen ≥ ${4 * n} (the pairs and as many query slots), got ${L}`);
  if (vocabSize <= L || n >= vocabSize / 2) throw new DenseSSMError(`mqar: vocabSize ${vocabSize} must exceed seqLen ${L} and give ${n} distinct keys below ${vocabSize / 2}`);
}

/** A batch of MQAR sequences: input_ids and labels [B, L] for CausalLM's shifted loss (labels[t] is what logits[t − 1] predict; −100 elsewhere). */
export interface MqarBatch {
  inputIds: Tensor;
  labels: Tensor;
}

/** Draws a batch (Zoology's `multiquery_ar`, with our own seeded generator). */
export function mqarBatch(rng: Rng, batchSize: number, cell: MqarCell, options: Pick<ResolvedMqarOptions, "vocabSize" | "powerA" | "randomNonQueries">): MqarBatch {
  const { seqLen: L, kvPairs: n } = cell;
  const V = options.vocabSize;
  checkCell(cell, V);
  const half = Math.floor(V / 2);
  const space = (L - 2 * n) / 2;
  // Query distances follow a power law over the `space` even slots after the pairs.
  const weights = Array.from({ length: space }, (_, i) => options.powerA * (i + 1) ** (options.powerA - 1));
  const ids = new Int32Array(batchSize * L);
  const labels = new Int32Array(batchSize * L).fill(-100);
  for (let b = 0; b < batchSize; b++) {
    const row = ids.subarray(b * L, (b + 1) * L);
    const keys = distinct(rng, n, 1, half);
    const values = distinct(rng, n, half, V);
    for (let i = 0; i < n; i++) {
      row[2 * i] = keys[i]!;
      row[2 * i + 1] = values[i]!;
    }
    const gaps = weightedWithoutReplacement(rng, weights, n);
    gaps.forEach((gap, i) => {
      const at = 2 * n + 2 * gap;
      row[at] = keys[i]!;
      labels[b * L + at + 1] = values[i]!; // the logits at the queried key predict its value
    });
    if (options.randomNonQueries) for (let t = 0; t < L; t++) if (row[t] === 0) row[t] = rng.int(V);
  }
  return { inputIds: new Tensor(ids, [batchSize, L], "int32"), labels: new Tensor(labels, [batchSize, L], "int32") };
}

/** `count` distinct integers from [lo, hi), in random order. */
function distinct(rng: Rng, count: number, lo: number, hi: number): number[] {
  const pool = Array.from({ length: hi - lo }, (_, i) => lo + i);
  for (let i = 0; i < count; i++) {
    const j = i + rng.int(pool.length - i);
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, count);
}

/** `count` distinct indices drawn in turn with probability proportional to the remaining weights. */
function weightedWithoutReplacement(rng: Rng, weights: readonly number[], count: number): number[] {
  const left = [...weights];
  const picked: number[] = [];
  for (let k = 0; k < count; k++) {
    const total = left.reduce((a, w) => a + w, 0);
    let u = rng.uniform() * total;
    let i = 0;
    while (i < left.length - 1 && (u -= left[i]!) > 0) i++;
    while (left[i] === 0) i = (i + 1) % left.length; // rounding landed on a taken slot
    picked.push(i);
    left[i] = 0;
  }
  return picked;
}

/** Accuracy on one test shape: the fraction of queried keys whose value is the argmax. */
export interface MqarAccuracy extends MqarCell {
  accuracy: number;
  queries: number;
}

export interface MqarResult {
  /** Mean training loss over the last 10 % of steps. */
  finalTrainLoss: number;
  accuracy: MqarAccuracy[];
  /** Mean accuracy over the test shapes. */
  meanAccuracy: number;
  seconds: number;
}

export interface MqarTrainEvent {
  type: "step";
  step: number;
  totalSteps: number;
  loss: number;
  etaSeconds: number;
}

/**
 * Trains a freshly initialised model on MQAR (batches drawn from `seed`, the same for every model
 * given that seed) and measures its accuracy on fresh test sequences of every test shape.
 */
export async function trainMqar(lm: CausalLM, session: Session, options: MqarOptions & { seed: number; signal?: AbortSignal; onProgress?: (e: MqarTrainEvent) => void }): Promise<MqarResult> {
  const o = resolveMqarOptions(options);
  if (lm.vocabSize < o.vocabSize) throw new DenseSSMError(`mqar: the model's vocabulary (${lm.vocabSize}) is smaller than the task's (${o.vocabSize})`);
  const started = performance.now();
  const rng = new Rng(options.seed);
  const params = lm.module.namedParameters();
  lm.bind(session);
  const optimizer = new AdamW(params, { lr: o.lr, weightDecay: o.weightDecay });
  const schedule = learningRateSchedule({ peakLr: o.lr, warmupSteps: o.warmupSteps, totalSteps: o.steps, decay: "cosine", minLr: o.lr / 10 });
  const losses: number[] = [];
  for (let step = 0; step < o.steps; step++) {
    options.signal?.throwIfAborted();
    const cell = o.train[step % o.train.length]!;
    const graph = lm.trainGraph(o.batchSize, cell.seqLen);
    const batch = mqarBatch(rng, o.batchSize, cell, o);
    const out = await session.run(graph, { input_ids: batch.inputIds, labels: batch.labels });
    const grads = new Map(params.flatMap(([name]) => (out[gradName(name)] ? [[name, out[gradName(name)]!] as const] : [])));
    if (o.clip > 0) clipGradNorm(grads, o.clip);
    optimizer.step(grads, schedule(step));
    const loss = out.loss!.item();
    if (!Number.isFinite(loss)) throw new DenseSSMError(`mqar: training diverged at step ${step + 1} (loss ${loss}); lower lr`);
    losses.push(loss);
    const elapsed = (performance.now() - started) / 1000;
    options.onProgress?.({ type: "step", step: step + 1, totalSteps: o.steps, loss, etaSeconds: (elapsed / (step + 1)) * (o.steps - step - 1) });
  }
  // Test sequences come from a generator of their own, so they do not depend on the training length.
  const testRng = new Rng(1_000_003 + options.seed);
  const accuracy: MqarAccuracy[] = [];
  for (const cell of o.test) {
    let correct = 0;
    let queries = 0;
    for (let done = 0; done < o.testExamples; done += o.batchSize) {
      const rows = Math.min(o.batchSize, o.testExamples - done);
      const batch = mqarBatch(testRng, rows, cell, o);
      const ids = Array.from({ length: rows }, (_, b) => Array.from(batch.inputIds.data.subarray(b * cell.seqLen, (b + 1) * cell.seqLen)));
      const logits = (await lm.logits(session, ids, "parallel")).toFloat32();
      const width = logits.length / (rows * cell.seqLen);
      const labels = batch.labels.data;
      for (let i = 0; i < labels.length; i++) {
        if (labels[i] === -100) continue;
        const row = logits.subarray((i - 1) * width, i * width); // logits at t − 1 predict labels[t]
        let best = 0;
        for (let v = 1; v < row.length; v++) if (row[v]! > row[best]!) best = v;
        queries++;
        if (best === labels[i]) correct++;
      }
    }
    accuracy.push({ ...cell, accuracy: correct / queries, queries });
  }
  const tail = losses.slice(-Math.max(1, Math.floor(losses.length / 10)));
  return {
    finalTrainLoss: tail.reduce((a, b) => a + b, 0) / tail.length,
    accuracy,
    meanAccuracy: accuracy.reduce((a, c) => a + c.accuracy, 0) / accuracy.length,
    seconds: (performance.now() - started) / 1000,
  };
}
