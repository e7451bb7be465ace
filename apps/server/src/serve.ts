import { readJsonObject, Session } from "@densessm/core";
import { loadPretrained, resolveSource } from "@densessm/lm";
import { ChatTemplate } from "./chat-template.js";
import { createServer, type DenseSSMServer, type ServerOptions } from "./server.js";

export interface ServeOptions extends Omit<ServerOptions, "lm" | "tokenizer" | "session" | "chatTemplate" | "modelId"> {
  /** Model folder, training run, or URL of a model folder (with its tokenizer). */
  readonly model: string;
  /** Name clients send as `model` (default: the folder's name). */
  readonly modelId?: string;
  readonly backend?: string;
  /** Default 127.0.0.1: listening on other interfaces is a choice to make explicitly. */
  readonly host?: string;
  /** Default 8080; 0 picks a free port. */
  readonly port?: number;
}

export interface Listening extends DenseSSMServer {
  /** http://host:port */
  readonly url: string;
  readonly modelId: string;
}

/** Loads a model with its tokenizer and chat template and starts listening. */
export async function serve(options: ServeOptions): Promise<Listening> {
  const files = await resolveSource(options.model);
  const { lm, tokenizer } = await loadPretrained(files);
  const session = await Session.create(options.backend);
  lm.bind(session);
  const tokenizerConfig = await readJsonObject(files, "tokenizer_config.json");
  const chatTemplate = ChatTemplate.fromConfig(tokenizer, tokenizerConfig);
  const modelId = options.modelId ?? (options.model.replace(/[/\\]+$/, "").split(/[/\\]/).pop() || "densessm");
  const server = createServer({ ...options, lm, tokenizer, session, chatTemplate, modelId });
  const address = await server.app.listen({ host: options.host ?? "127.0.0.1", port: options.port ?? 8080 });
  return { ...server, url: address, modelId };
}
