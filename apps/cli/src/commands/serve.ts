import type { Command } from "commander";
import { nonNegativeInt, nonNegativeNumber, positiveInt } from "../options.js";

interface ServeFlags {
  model: string;
  modelId?: string;
  host: string;
  port: number;
  backend?: string;
  maxBatch: number;
  maxQueue?: number;
  maxPromptTokens: number;
  maxTokens: number;
  prefixCacheMb: number;
  shutdownTimeout: number;
  log?: boolean;
}

export function registerServe(program: Command): void {
  program
    .command("serve")
    .description("Serve a model over an OpenAI-compatible HTTP API (/v1/completions, /v1/chat/completions, /v1/models, /health, /metrics) with continuous batching.")
    .requiredOption("--model <dir>", "model folder or training run folder (with its tokenizer)")
    .option("--model-id <name>", "the model's name in the API (default: the folder's name)")
    .option("--host <address>", "address to listen on", "127.0.0.1")
    .option("--port <n>", "port to listen on (0: any free port)", nonNegativeInt, 8080)
    .option("--backend <name>", "backend (default: best available)")
    .option("--max-batch <n>", "most answers decoded at once", positiveInt, 64)
    .option("--max-queue <n>", "most requests waiting for a batch slot before 429 (default: 4 x max-batch)", positiveInt)
    .option("--max-prompt-tokens <n>", "longest prompt accepted, in tokens (longer: 413)", positiveInt, 8192)
    .option("--max-tokens <n>", "most tokens generated per answer (max_tokens above it: 400)", positiveInt, 2048)
    .option("--prefix-cache-mb <n>", "memory for cached prompt-prefix states, in MiB (0: off)", nonNegativeNumber, 256)
    .option("--shutdown-timeout <ms>", "on SIGTERM/SIGINT, how long streams in flight may run before they are cancelled", nonNegativeInt, 10_000)
    .option("--log", "log every request (Fastify's logger)")
    .action(async (flags: ServeFlags) => {
      // Loaded here so the other commands never pay for the HTTP stack.
      const { serve } = await import("@densessm/server");
      const started = performance.now();
      const server = await serve({
        model: flags.model,
        modelId: flags.modelId,
        host: flags.host,
        port: flags.port,
        backend: flags.backend,
        maxBatch: flags.maxBatch,
        maxQueue: flags.maxQueue,
        maxPromptTokens: flags.maxPromptTokens,
        maxTokens: flags.maxTokens,
        prefixCacheBytes: Math.round(flags.prefixCacheMb * 2 ** 20),
        logger: flags.log === true,
      });
      console.log(`densessm serve: ${server.modelId} on ${server.url} (${((performance.now() - started) / 1000).toFixed(1)} s to start; POST /v1/completions, /v1/chat/completions)`);
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          console.log(`densessm serve: ${signal}: finishing streams in flight (at most ${flags.shutdownTimeout} ms)`);
          server.shutdown(flags.shutdownTimeout).then(resolve, (e: unknown) => {
            console.error(`densessm serve: shutdown: ${(e as Error).message}`);
            resolve();
          });
        };
        process.once("SIGTERM", () => stop("SIGTERM"));
        process.once("SIGINT", () => stop("SIGINT"));
      });
      console.log("densessm serve: stopped");
    });
}
