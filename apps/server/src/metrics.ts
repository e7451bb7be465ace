/** What the engine and the HTTP layer count, rendered as Prometheus text by `renderMetrics`. */
export class Metrics {
  promptTokens = 0;
  /** Prompt tokens actually run through the model (cache hits excluded). */
  prefillTokens = 0;
  generatedTokens = 0;
  prefillSeconds = 0;
  decodeSeconds = 0;
  decodeSteps = 0;
  /** Streams summed over decode steps: divided by decodeSteps, the mean batch. */
  decodeRows = 0;
  cancelledRequests = 0;
  readonly requests = new Map<string, number>();
  /** (time in ms, generated tokens so far), the last ten seconds of them, for the tokens/s gauge. */
  private readonly recent: [number, number][] = [];

  countRequest(route: string, status: number): void {
    const key = `route="${route}",status="${status}"`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
  }

  countGenerated(tokens: number, now = performance.now()): void {
    this.generatedTokens += tokens;
    this.recent.push([now, this.generatedTokens]);
    while (this.recent.length > 2 && now - this.recent[0]![0] > 10_000) this.recent.shift();
  }

  /** Generated tokens per second over the last ten seconds (0 when idle). */
  tokensPerSecond(now = performance.now()): number {
    const first = this.recent[0];
    const last = this.recent.at(-1);
    if (!first || !last || now - last[0] > 10_000 || last[0] === first[0]) return 0;
    return (last[1] - first[1]) / ((last[0] - first[0]) / 1000);
  }
}

export interface Gauges {
  readonly queueDepth: number;
  readonly activeStreams: number;
  readonly prefilling: number;
  readonly cacheHits: number;
  readonly cacheMisses: number;
  readonly cacheSavedTokens: number;
  readonly cacheBytes: number;
  readonly cacheEntries: number;
  readonly cacheMaxBytes: number;
  readonly maxBatch: number;
}

/** Prometheus text exposition format (version 0.0.4). */
export function renderMetrics(m: Metrics, g: Gauges): string {
  const lines: string[] = [];
  const metric = (name: string, type: "counter" | "gauge", help: string, value: number | [string, number][]) => {
    lines.push(`# HELP densessm_${name} ${help}`, `# TYPE densessm_${name} ${type}`);
    if (typeof value === "number") lines.push(`densessm_${name} ${format(value)}`);
    else for (const [labels, v] of value) lines.push(`densessm_${name}{${labels}} ${format(v)}`);
  };
  metric("requests_total", "counter", "HTTP requests answered, by route and status.", [...m.requests]);
  metric("prompt_tokens_total", "counter", "Prompt tokens of admitted requests.", m.promptTokens);
  metric("prefill_tokens_total", "counter", "Prompt tokens run through the model (prefix-cache hits excluded).", m.prefillTokens);
  metric("generated_tokens_total", "counter", "Tokens drawn for all streams.", m.generatedTokens);
  metric("tokens_per_second", "gauge", "Generated tokens per second over the last 10 seconds.", m.tokensPerSecond());
  metric("prefill_seconds_total", "counter", "Time spent prefilling prompts.", m.prefillSeconds);
  metric("decode_seconds_total", "counter", "Time spent in batched decode steps.", m.decodeSeconds);
  metric("decode_steps_total", "counter", "Batched decode steps.", m.decodeSteps);
  metric("decode_rows_total", "counter", "Streams summed over decode steps (divide by decode_steps_total for the mean batch).", m.decodeRows);
  metric("cancelled_requests_total", "counter", "Requests ended early by a client disconnect or shutdown's deadline.", m.cancelledRequests);
  metric("queue_depth", "gauge", "Requests waiting for a batch slot.", g.queueDepth);
  metric("active_streams", "gauge", "Streams decoding in the batch.", g.activeStreams);
  metric("prefilling_requests", "gauge", "Requests whose prompt is being prefilled.", g.prefilling);
  metric("max_batch", "gauge", "Most streams decoded at once (--max-batch).", g.maxBatch);
  metric("prefix_cache_hits_total", "counter", "Requests that continued from a cached prefix state.", g.cacheHits);
  metric("prefix_cache_misses_total", "counter", "Requests that found no cached prefix state.", g.cacheMisses);
  metric("prefix_cache_saved_tokens_total", "counter", "Prompt tokens not prefilled thanks to cache hits.", g.cacheSavedTokens);
  metric("prefix_cache_bytes", "gauge", "Bytes of state held by the prefix cache.", g.cacheBytes);
  metric("prefix_cache_max_bytes", "gauge", "The prefix cache's bound in bytes.", g.cacheMaxBytes);
  metric("prefix_cache_entries", "gauge", "Prefix states held.", g.cacheEntries);
  metric("resident_memory_bytes", "gauge", "Resident set size of the server process.", process.memoryUsage.rss());
  return `${lines.join("\n")}\n`;
}

const format = (v: number) => (Number.isInteger(v) ? String(v) : v.toPrecision(6));
