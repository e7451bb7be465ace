// The demo page: wires the controls in index.html to the model worker (worker.ts), which loads,
// caches and decodes; the page only renders what the worker reports. It mirrors each run in
// `window.__densessm` and data attributes so the end-to-end test (test/e2e.test.ts) can read what
// the page computed.
import { registerOffline, type OfflineSupport } from "./offline.js";
import type { FromWorker, ModelInfo, ModelSource, ToWorker } from "./protocol.js";
import { detectWebGpu, type WebGpuSupport } from "./webgpu.js";

/** What the page exposes for tests and curious users (devtools: `__densessm`). */
export interface DemoState {
  webgpu: WebGpuSupport | undefined;
  offline: OfflineSupport | undefined;
  model: string | undefined;
  info: ModelInfo | undefined;
  status: "idle" | "loading" | "ready" | "generating" | "done" | "error";
  backend: string | undefined;
  promptIds: number[];
  tokens: number[];
  stopped: boolean;
  /** Tokens the worker produced after it received Stop (at most one). */
  tokensAfterStop: number;
  tokensPerSecond: number | undefined;
  error: string | undefined;
}

declare global {
  interface Window {
    __densessm: DemoState;
  }
}

const state: DemoState = { webgpu: undefined, offline: undefined, model: undefined, info: undefined, status: "idle", backend: undefined, promptIds: [], tokens: [], stopped: false, tokensAfterStop: 0, tokensPerSecond: undefined, error: undefined };
window.__densessm = state;

function element<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`index.html has no #${id}`);
  return el as T;
}

const ui = {
  webgpuStatus: element<HTMLParagraphElement>("webgpu-status"),
  bundled: element<HTMLSelectElement>("bundled"),
  loadBundled: element<HTMLButtonElement>("load-bundled"),
  url: element<HTMLInputElement>("model-url"),
  loadUrl: element<HTMLButtonElement>("load-url"),
  folder: element<HTMLInputElement>("model-folder"),
  progress: element<HTMLProgressElement>("download-progress"),
  loadStatus: element<HTMLSpanElement>("load-status"),
  clearCache: element<HTMLButtonElement>("clear-cache"),
  cacheStatus: element<HTMLSpanElement>("cache-status"),
  backend: element<HTMLSelectElement>("backend"),
  maxTokens: element<HTMLInputElement>("max-tokens"),
  temperature: element<HTMLInputElement>("temperature"),
  topK: element<HTMLInputElement>("top-k"),
  topP: element<HTMLInputElement>("top-p"),
  prompt: element<HTMLTextAreaElement>("prompt"),
  generate: element<HTMLButtonElement>("generate"),
  stop: element<HTMLButtonElement>("stop"),
  stats: element<HTMLSpanElement>("stats"),
  output: element<HTMLPreElement>("output"),
};

const worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
const send = (message: ToWorker) => worker.postMessage(message);

function setStatus(status: DemoState["status"], error?: string): void {
  state.status = status;
  state.error = error;
  ui.output.dataset.state = status;
}

const formatBytes = (n: number) => (n < 1024 * 1024 ? `${(n / 1024).toFixed(0)} KB` : `${(n / 1024 / 1024).toFixed(2)} MB`);

function describe(info: ModelInfo): string {
  const source = info.cachedBytes === info.bytes && info.bytes > 0 ? "from the cache" : info.cachedBytes > 0 ? `${formatBytes(info.cachedBytes)} from the cache` : "downloaded";
  return `Loaded ${info.name}: ${info.family}, ${info.parameters.toLocaleString("en")} parameters${info.quantization ? ` (${info.quantization})` : ""}, ${formatBytes(info.bytes)} (${source}), ${info.vocabSize} tokens.`;
}

async function showWebGpuSupport(): Promise<void> {
  const support = await detectWebGpu();
  state.webgpu = support;
  ui.webgpuStatus.dataset.available = String(support.available);
  if (support.available) {
    ui.webgpuStatus.textContent = `WebGPU is available (${support.adapter}).`;
  } else {
    ui.webgpuStatus.textContent = `WebGPU is unavailable: ${support.reason}. Generation runs on the CPU backend (WebAssembly) instead, which is slower.`;
    const option = ui.backend.querySelector<HTMLOptionElement>('option[value="webgpu"]');
    if (option) {
      option.disabled = true;
      option.textContent = "WebGPU (unavailable)";
    }
  }
}

function load(source: ModelSource): void {
  state.model = undefined;
  state.info = undefined;
  ui.generate.disabled = true;
  ui.stop.disabled = true;
  ui.progress.removeAttribute("value"); // indeterminate until the first bytes arrive
  ui.loadStatus.dataset.state = "loading";
  ui.loadStatus.textContent = "Loading…";
  setStatus("loading");
  state.model = source.kind === "url" ? source.url : source.name;
  send({ type: "load", source });
}

function chosenBackend(): string {
  const choice = ui.backend.value;
  if (choice !== "auto") return choice;
  return state.webgpu?.available ? "webgpu" : "cpu";
}

function run(): void {
  if (!state.info) return;
  const backend = chosenBackend();
  Object.assign(state, { backend, tokens: [], promptIds: [], stopped: false, tokensAfterStop: 0, tokensPerSecond: undefined });
  ui.output.textContent = "";
  ui.output.dataset.tokenIds = "[]";
  ui.stats.dataset.tokensPerSecond = "";
  ui.stats.textContent = `Starting ${backend}…`;
  ui.generate.disabled = true;
  ui.stop.disabled = false;
  setStatus("generating");
  const prompt = document.createElement("span");
  prompt.className = "prompt";
  prompt.textContent = ui.prompt.value;
  ui.output.append(prompt);
  send({
    type: "generate",
    settings: {
      backend,
      prompt: ui.prompt.value,
      maxNewTokens: Math.max(1, Math.floor(Number(ui.maxTokens.value) || 1)),
      temperature: Math.max(0, Number(ui.temperature.value) || 0),
      // The draw runs on the backend with the tokens (0 and 1 turn the filters off).
      topK: Math.max(0, Math.floor(Number(ui.topK.value) || 0)),
      topP: Math.min(1, Math.max(0.01, Number(ui.topP.value) || 1)),
    },
  });
}

function finishRun(): void {
  ui.generate.disabled = !state.info;
  ui.stop.disabled = true;
}

worker.onmessage = (event: MessageEvent<FromWorker>) => {
  const message = event.data;
  switch (message.type) {
    case "progress":
      ui.progress.max = Math.max(message.total, 1);
      ui.progress.value = message.loaded;
      ui.loadStatus.textContent = `${message.file}${message.cached ? " (cached)" : ""}: ${formatBytes(message.loaded)}${message.total ? ` of ${formatBytes(message.total)}` : ""}`;
      return;
    case "loaded":
      state.info = message.info;
      ui.progress.max = 1;
      ui.progress.value = 1;
      ui.loadStatus.dataset.state = "ready";
      ui.loadStatus.textContent = describe(message.info);
      ui.generate.disabled = false;
      return setStatus("ready");
    case "load-error":
      ui.progress.value = 0;
      ui.loadStatus.dataset.state = "error";
      ui.loadStatus.textContent = `Could not load the model: ${message.message}`;
      return setStatus("error", message.message);
    case "token": {
      const { token, text, stats } = message;
      if (token >= 0) state.tokens.push(token);
      ui.output.append(text);
      ui.output.dataset.tokenIds = JSON.stringify(state.tokens);
      state.tokensPerSecond = stats.tokensPerSecond;
      ui.stats.dataset.tokensPerSecond = stats.tokensPerSecond?.toFixed(2) ?? "";
      ui.stats.textContent = `${state.backend} · ${stats.tokens} tokens · first after ${stats.firstTokenMs.toFixed(0)} ms${stats.tokensPerSecond === undefined ? "" : ` · ${stats.tokensPerSecond.toFixed(1)} tokens/s`}`;
      return;
    }
    case "done":
      state.promptIds = message.promptIds;
      state.stopped = message.stopped;
      state.tokensAfterStop = message.tokensAfterStop;
      if (message.stopped) ui.stats.textContent += " · stopped";
      finishRun();
      return setStatus("done");
    case "generate-error":
      ui.stats.textContent = `Generation failed on ${state.backend}: ${message.message}`;
      finishRun();
      return setStatus("error", message.message);
    case "cache-cleared":
      ui.cacheStatus.textContent = `Cleared ${message.files} cached file${message.files === 1 ? "" : "s"}.`;
      return;
  }
};

// URLs are resolved here: the worker would resolve a relative one against its own script's URL.
ui.loadBundled.addEventListener("click", () => load({ kind: "url", url: new URL(ui.bundled.value, location.href).href }));
ui.loadUrl.addEventListener("click", () => {
  const url = ui.url.value.trim();
  if (url) load({ kind: "url", url: new URL(url, location.href).href });
});
ui.folder.addEventListener("change", () => {
  const files = Array.from(ui.folder.files ?? []);
  if (files.length) load({ kind: "files", files, name: files[0]!.webkitRelativePath.split("/")[0] || "picked files" });
});
ui.generate.addEventListener("click", run);
ui.stop.addEventListener("click", () => send({ type: "stop" }));
ui.clearCache.addEventListener("click", () => send({ type: "clear-cache" }));

await showWebGpuSupport();
state.offline = await registerOffline();
ui.cacheStatus.textContent = state.offline === "ready" ? "Downloaded models are kept for offline use." : "";
