import { DenseSSMError, writeFileAtomic, type CausalLM, type Session } from "@densessm/core";
import { lineChartSvg, panelsSvg } from "../plot.js";
import { linearProbeAccuracy } from "./probe.js";

// How much of the shallow layers' information the deep layers still carry — the "hidden state
// degradation" the DenseSSM paper describes — measured on the residual stream that every family
// exposes through FamilyModel.hiddenStates (the embedding output h_0, then every layer's output):
//   - cosine similarity of h_l to the embedding h_0 and to the first layer's output h_1, per token;
//   - a linear probe's held-out accuracy at reading the input token at t − lag from h_l.

export interface AnalyzeOptions {
  /** Tokens per window (default 128). */
  window?: number;
  /** Tokens analysed at most (default 8192, from the start of the text). */
  maxTokens?: number;
  /** Windows per forward pass (default 8). */
  batchSize?: number;
  /** Which token the probe recovers: 0 is the input token itself, 1 the one before, … (default [0, 1]). */
  lags?: readonly number[];
  /** Ridge penalty of the probe, relative to the mean feature variance (default 0.01). */
  ridge?: number;
}

export interface LayerAnalysis {
  /** 0 is the embedding output, l the output of layer l. */
  layer: number;
  /** Mean over tokens of cos(h_l, h_0). */
  cosineToEmbedding: number;
  /** Mean over tokens of cos(h_l, h_1). */
  cosineToFirstLayer: number;
  /** Mean over tokens of ‖h_l‖. */
  meanNorm: number;
  /** Held-out top-1 accuracy of the linear probe, per lag. */
  probeAccuracy: number[];
}

export interface HiddenStateAnalysis {
  model: string;
  family: string;
  parameters: number;
  /** Tokens the statistics cover (the probe trains on the first half of the windows, tests on the rest). */
  tokens: number;
  lags: number[];
  /** Accuracy of always answering the most frequent training token, per lag (the probe's floor). */
  majorityAccuracy: number[];
  layers: LayerAnalysis[];
}

export async function analyzeHiddenStates(lm: CausalLM, session: Session, tokens: Int32Array, options: AnalyzeOptions & { model?: string } = {}): Promise<HiddenStateAnalysis> {
  const window = options.window ?? 128;
  const batch = options.batchSize ?? 8;
  const lags = [...(options.lags ?? [0, 1])];
  if (!Number.isInteger(window) || window < 2) throw new DenseSSMError(`analyze: window must be an integer ≥ 2, got ${window}`);
  if (lags.some((l) => !Number.isInteger(l) || l < 0 || l >= window)) throw new DenseSSMError(`analyze: lags must be integers in [0, window), got ${lags.join(", ")}`);
  const windows = Math.floor(Math.min(tokens.length, options.maxTokens ?? 8192) / window);
  if (windows < 2) throw new DenseSSMError(`analyze: the text has ${tokens.length} tokens; at least two windows of ${window} are needed (a shorter --window or a longer text)`);

  // Every layer's states for every analysed token, window by window: [layer][token · D].
  let dim = 0;
  let states: Float32Array[] = [];
  for (let w = 0; w < windows; w += batch) {
    const rows = Array.from({ length: Math.min(batch, windows - w) }, (_, r) => Array.from(tokens.subarray((w + r) * window, (w + r + 1) * window)));
    const hidden = await lm.hiddenStates(session, rows);
    if (w === 0) {
      dim = hidden[0]!.shape.at(-1)!;
      states = hidden.map(() => new Float32Array(windows * window * dim));
    }
    hidden.forEach((h, l) => states[l]!.set(h.toFloat32(), w * window * dim));
  }
  const n = windows * window;
  const cosine = (a: Float32Array, b: Float32Array) => {
    let sum = 0;
    for (let t = 0; t < n; t++) {
      let ab = 0;
      let aa = 0;
      let bb = 0;
      for (let j = t * dim; j < (t + 1) * dim; j++) {
        ab += a[j]! * b[j]!;
        aa += a[j]! ** 2;
        bb += b[j]! ** 2;
      }
      sum += ab / Math.sqrt(aa * bb || 1);
    }
    return sum / n;
  };

  // Probe rows: positions t ≥ lag of each window; train on the first half of the windows.
  const half = Math.floor(windows / 2);
  const split = (lag: number, from: number, to: number, features: Float32Array) => {
    const count = (to - from) * (window - lag);
    const out = { features: new Float32Array(count * dim), labels: new Int32Array(count) };
    let i = 0;
    for (let w = from; w < to; w++) {
      for (let t = lag; t < window; t++, i++) {
        const at = w * window + t;
        out.features.set(features.subarray(at * dim, (at + 1) * dim), i * dim);
        out.labels[i] = tokens[at - lag]!;
      }
    }
    return out;
  };
  const majorityAccuracy = lags.map((lag) => {
    const train = split(lag, 0, half, states[0]!).labels;
    const test = split(lag, half, windows, states[0]!).labels;
    const counts = new Map<number, number>();
    for (const id of train) counts.set(id, (counts.get(id) ?? 0) + 1);
    const top = [...counts].sort((a, b) => b[1] - a[1])[0]![0];
    return test.filter((id) => id === top).length / test.length;
  });
  const layers = states.map((h, layer) => ({
    layer,
    cosineToEmbedding: cosine(h, states[0]!),
    cosineToFirstLayer: cosine(h, states[Math.min(1, states.length - 1)]!),
    meanNorm: meanNorm(h, n, dim),
    probeAccuracy: lags.map((lag) => linearProbeAccuracy(split(lag, 0, half, h), split(lag, half, windows, h), dim, options.ridge)),
  }));
  return { model: options.model ?? lm.family, family: lm.family, parameters: lm.numParameters(), tokens: n, lags, majorityAccuracy, layers };
}

function meanNorm(h: Float32Array, n: number, dim: number): number {
  let sum = 0;
  for (let t = 0; t < n; t++) {
    let s = 0;
    for (let j = t * dim; j < (t + 1) * dim; j++) s += h[j]! ** 2;
    sum += Math.sqrt(s);
  }
  return sum / n;
}

/** Writes analysis.md (a table per model), analysis.svg (the curves of every model side by side) and analysis.json. */
export async function writeAnalysisReport(analyses: readonly HiddenStateAnalysis[], out: string, context: { text: string; command?: string }): Promise<{ table: string; plot: string; json: string }> {
  const { join } = await import("node:path");
  const { mkdir } = await import("node:fs/promises");
  await mkdir(out, { recursive: true });
  const files = { table: join(out, "analysis.md"), plot: join(out, "analysis.svg"), json: join(out, "analysis.json") };
  const lags = analyses[0]?.lags ?? [];
  const lagName = (lag: number) => (lag === 0 ? "token t" : `token t − ${lag}`);
  const tables = analyses.flatMap((a) => [
    `### ${a.model} (${a.family}, ${a.parameters.toLocaleString("en")} parameters)`,
    "",
    `| layer | cos(h, embedding) | cos(h, layer 1) | mean ‖h‖ | ${a.lags.map((l) => `probe: ${lagName(l)}`).join(" | ")} |`,
    `| ---: | ---: | ---: | ---: | ${a.lags.map(() => "---:").join(" | ")} |`,
    ...a.layers.map((l) => `| ${l.layer === 0 ? "0 (embedding)" : l.layer} | ${l.cosineToEmbedding.toFixed(3)} | ${l.cosineToFirstLayer.toFixed(3)} | ${l.meanNorm.toFixed(2)} | ${l.probeAccuracy.map((p) => p.toFixed(3)).join(" | ")} |`),
    "",
    `Probe floor (always the most frequent token): ${a.majorityAccuracy.map((m, i) => `${lagName(a.lags[i]!)} ${m.toFixed(3)}`).join(", ")}; ${a.tokens.toLocaleString("en")} tokens, probe fitted on the first half of the windows and scored on the second.`,
    "",
  ]);
  await writeFileAtomic(files.table, [`Hidden states of ${context.text}`, "", ...(context.command ? ["```sh", context.command, "```", ""] : []), ...tables].join("\n"));
  const chart = (title: string, y: string, value: (l: LayerAnalysis) => number) =>
    lineChartSvg(analyses.map((a) => ({ name: a.model, points: a.layers.map((l) => [l.layer, value(l)] as [number, number]) })), { title, x: "layer (0 = embedding)", y });
  await writeFileAtomic(
    files.plot,
    panelsSvg([
      chart("cos(h_l, embedding)", "mean cosine", (l) => l.cosineToEmbedding),
      chart("cos(h_l, first layer)", "mean cosine", (l) => l.cosineToFirstLayer),
      ...lags.map((lag, i) => chart(`linear probe of ${lagName(lag)}`, "held-out accuracy", (l) => l.probeAccuracy[i]!)),
    ], { columns: 2 }),
  );
  await writeFileAtomic(files.json, JSON.stringify({ text: context.text, command: context.command, analyses }, null, 1));
  return files;
}
