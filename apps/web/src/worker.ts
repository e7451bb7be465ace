// The model worker: loads models (through the Cache API), decodes on the chosen backend and streams
// tokens to the page. Decoding here, not on the page, is what keeps the page responsive: even the
// CPU backend's synchronous kernels only ever block this thread.
import "@densessm/backend-cpu";
import "@densessm/backend-webgpu";
import type { PretrainedModel } from "@densessm/lm";
import { generate, Sessions } from "./generation.js";
import { clearModelCache } from "./model-cache.js";
import { loadModel } from "./model-source.js";
import type { FromWorker, GenerateSettings, ModelSource, ToWorker } from "./protocol.js";

const post = (message: FromWorker) => self.postMessage(message);

let model: PretrainedModel | undefined;
let sessions: Sessions | undefined;
/** The run in progress: its abort switch, its tokens so far, and how many there were at Stop. */
let running: { controller: AbortController; tokens: number[]; atStop?: number } | undefined;

function stop(): void {
  if (!running || running.controller.signal.aborted) return;
  running.atStop = running.tokens.length;
  running.controller.abort();
}

async function load(source: ModelSource): Promise<void> {
  stop();
  sessions?.dispose();
  model = undefined;
  sessions = undefined;
  try {
    const loaded = await loadModel(source, (p) => post({ type: "progress", ...p }));
    model = loaded.model;
    sessions = new Sessions(loaded.model.lm);
    post({ type: "loaded", info: loaded.info });
  } catch (e) {
    post({ type: "load-error", message: (e as Error).message });
  }
}

async function run(settings: GenerateSettings): Promise<void> {
  if (!model || !sessions) return post({ type: "generate-error", message: "no model is loaded" });
  stop();
  const controller = new AbortController();
  const run = { controller, tokens: [] as number[], atStop: undefined as number | undefined };
  running = run;
  const { tokens } = run;
  try {
    const session = await sessions.get(settings.backend);
    const result = await generate({
      ...settings,
      lm: model.lm,
      tokenizer: model.tokenizer,
      session,
      signal: controller.signal,
      onToken: ({ token, text, stats }) => {
        if (token >= 0) tokens.push(token);
        post({ type: "token", token, text, stats });
      },
    });
    post({ type: "done", promptIds: result.promptIds, tokens: result.tokens, stopped: false, tokensAfterStop: 0 });
  } catch (e) {
    if (controller.signal.aborted) post({ type: "done", promptIds: [], tokens, stopped: true, tokensAfterStop: tokens.length - (run.atStop ?? tokens.length) });
    else post({ type: "generate-error", message: (e as Error).message });
  } finally {
    if (running === run) running = undefined;
  }
}

self.onmessage = (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  switch (message.type) {
    case "load":
      return void load(message.source);
    case "generate":
      return void run(message.settings);
    case "stop":
      return stop();
    case "clear-cache":
      return void clearModelCache().then((files) => post({ type: "cache-cleared", files }));
  }
};
