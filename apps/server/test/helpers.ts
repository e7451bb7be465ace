import { fileURLToPath } from "node:url";
import { CpuBackend } from "@densessm/backend-cpu";
import { Session, folderSource, readJsonObject } from "@densessm/core";
import { loadPretrained } from "@densessm/lm";
import { ChatTemplate, createServer, type DenseSSMServer, type ServerOptions } from "../src/index.js";

/** The browser demo's tiny models: the repository's test weights with a character tokenizer. */
export const modelDir = (name: "mamba-tiny" | "dense-gau-retnet-tiny") => fileURLToPath(new URL(`../../web/public/models/${name}`, import.meta.url));

export interface TestServer extends DenseSSMServer {
  readonly url: string;
  readonly modelId: string;
  readonly model: Awaited<ReturnType<typeof loadPretrained>> & { session: Session };
}

/** A server on 127.0.0.1 (a free port) over a tiny model on the cpu backend. */
export async function startServer(name: "mamba-tiny" | "dense-gau-retnet-tiny" = "mamba-tiny", options: Partial<ServerOptions> = {}): Promise<TestServer> {
  const files = folderSource(modelDir(name));
  const { lm, tokenizer } = await loadPretrained(files);
  const session = options.session ?? new Session(new CpuBackend());
  const chatTemplate = options.chatTemplate ?? ChatTemplate.fromConfig(tokenizer, await readJsonObject(files, "tokenizer_config.json"));
  const server = createServer({ lm, tokenizer, session, chatTemplate, modelId: name, ...options });
  const url = await server.app.listen({ host: "127.0.0.1", port: 0 });
  return { ...server, url, modelId: name, model: { lm, tokenizer, session } };
}

/** POSTs JSON (or raw text) and returns the status, headers and parsed body. */
export async function post(url: string, body: unknown, init: RequestInit = {}): Promise<{ status: number; headers: Headers; json: Record<string, unknown> }> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body), signal: AbortSignal.timeout(60_000), ...init });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** The `data:` payloads of a server-sent-event response, read to the end. */
export async function sse(res: Response): Promise<string[]> {
  const text = await res.text();
  return text
    .split("\n\n")
    .filter((block) => block.startsWith("data: "))
    .map((block) => block.slice("data: ".length));
}

export { metric } from "../bench/load.js";
