// The load harness shared by test/load.test.ts (correctness under load) and bench/load.bench.ts
// (the throughput target): `densessm serve` started through the CLI as users start it, in its own
// process on 127.0.0.1, and streaming clients that count what they receive.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("../../..", import.meta.url));
export const tinyModel = fileURLToPath(new URL("../../web/public/models/mamba-tiny", import.meta.url));

export interface ServeProcess {
  readonly child: ChildProcess;
  readonly url: string;
  readonly exited: Promise<number | null>;
  output(): string;
}

/** Runs `densessm serve --port 0 ...args` and resolves once it listens (or throws with its output). */
export async function startServe(args: readonly string[], timeoutMs = 60_000): Promise<ServeProcess> {
  const child = spawn(process.execPath, ["--conditions=@densessm/source", "--import", "tsx", "apps/cli/src/bin.ts", "serve", "--port", "0", ...args], { cwd: repo, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (b: Buffer) => (output += b.toString()));
  child.stderr!.on("data", (b: Buffer) => (output += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const started = Date.now();
  while (!/ on (http:\/\/\S+)/.test(output)) {
    if (child.exitCode !== null || Date.now() - started > timeoutMs) {
      child.kill("SIGKILL");
      throw new Error(`densessm serve did not start:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, url: / on (http:\/\/\S+)/.exec(output)![1]!, exited, output: () => output };
}

export interface StreamResult {
  status: number;
  /** Tokens received: the usage chunk's count for a finished stream, text events for an aborted one. */
  tokens: number;
  /** A finish_reason and `data: [DONE]` arrived. */
  finished: boolean;
  aborted: boolean;
}

/** One streaming completion, read event by event; `abortAfterTokens` cancels it mid-stream once that many tokens arrived. */
export async function streamCompletion(url: string, prompt: string, maxTokens: number, options: { abortAfterTokens?: number; timeoutMs?: number } = {}): Promise<StreamResult> {
  const controller = new AbortController();
  const result: StreamResult = { status: 0, tokens: 0, finished: false, aborted: false };
  try {
    const res = await fetch(`${url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "mamba-tiny", prompt, max_tokens: maxTokens, temperature: 0.8, ignore_eos: true, stream: true, stream_options: { include_usage: true } }),
      signal: AbortSignal.any([controller.signal, AbortSignal.timeout(options.timeoutMs ?? 60_000)]),
    });
    result.status = res.status;
    if (res.status !== 200) return result;
    const decoder = new TextDecoder();
    let buffered = "";
    let finish: string | null = null;
    const reader = res.body!.getReader();
    for (let read = await reader.read(); !read.done; read = await reader.read()) {
      buffered += decoder.decode(read.value, { stream: true });
      for (let end = buffered.indexOf("\n\n"); end >= 0; end = buffered.indexOf("\n\n")) {
        const data = buffered.slice("data: ".length, end);
        buffered = buffered.slice(end + 2);
        if (data === "[DONE]") result.finished = finish !== null;
        else {
          const chunk = JSON.parse(data) as { choices: { finish_reason: string | null }[]; usage?: { completion_tokens: number } };
          if (chunk.usage) result.tokens = chunk.usage.completion_tokens;
          else if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
          else if (++result.tokens === options.abortAfterTokens) controller.abort(); // the next read throws
        }
      }
    }
  } catch (e) {
    if (!controller.signal.aborted) throw e;
    result.aborted = true;
  }
  return result;
}

/** A small seeded generator, so abort moments are random but a run repeats. */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

export interface LoadFigures {
  results: StreamResult[];
  aborting: Set<number>;
  seconds: number;
  /** Tokens received by every client (aborted ones included) per second of the run. */
  tokensPerSecond: number;
}

/**
 * `clients` concurrent streams of `tokens` tokens, `aborting` of them cancelled at random moments:
 * after a uniformly drawn 1 to tokens − 8 tokens, so the aborts land mid-stream however fast the
 * server is, and a few steps before the server could finish the stream anyway.
 */
export async function loadRun(url: string, clients: number, aborting: number, tokens: number, seed: number, label = "Client"): Promise<LoadFigures> {
  const random = lcg(seed);
  const chosen = new Set<number>();
  while (chosen.size < aborting) chosen.add(Math.floor(random() * clients));
  const t0 = performance.now();
  const results = await Promise.all(Array.from({ length: clients }, (_, i) => streamCompletion(url, `${label} ${i} says:`, tokens, chosen.has(i) ? { abortAfterTokens: 1 + Math.floor(random() * Math.max(1, tokens - 8)) } : {})));
  const seconds = (performance.now() - t0) / 1000;
  return { results, aborting: chosen, seconds, tokensPerSecond: results.reduce((n, r) => n + r.tokens, 0) / seconds };
}

/** One stream alone, `runs` times: the median tokens per second. */
export async function singleStreamRate(url: string, tokens: number, runs = 3): Promise<number> {
  const rates: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = await streamCompletion(url, `Alone ${i}:`, tokens);
    rates.push(r.tokens / ((performance.now() - t0) / 1000));
  }
  return rates.sort((a, b) => a - b)[Math.floor(runs / 2)]!;
}

/** A metric's value from the Prometheus text of GET /metrics. */
export async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  if (!line) throw new Error(`no metric ${name}`);
  return Number(line.split(" ")[1]);
}
