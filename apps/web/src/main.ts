// The demo page: wires the controls in index.html to model loading and streaming generation, and
// mirrors the outcome of each run in `window.__densessm` and data attributes so the end-to-end test
// (test/e2e.test.ts) can read what the page computed.
import "@densessm/backend-cpu";
import "@densessm/backend-webgpu";
import type { PretrainedModel } from "@densessm/lm";
import { generate, Sessions } from "./generation.js";
import { loadModel, type ModelSource } from "./model-source.js";
import { detectWebGpu, type WebGpuSupport } from "./webgpu.js";

/** What the page exposes for tests and curious users (devtools: `__densessm`). */
export interface DemoState {
  webgpu: WebGpuSupport | undefined;
  model: string | undefined;
  status: "idle" | "loading" | "ready" | "generating" | "done" | "error";
  backend: string | undefined;
  promptIds: number[];
  tokens: number[];
  tokensPerSecond: number | undefined;
  error: string | undefined;
}

declare global {
  interface Window {
    __densessm: DemoState;
  }
}

const state: DemoState = { webgpu: undefined, model: undefined, status: "idle", backend: undefined, promptIds: [], tokens: [], tokensPerSecond: undefined, error: undefined };
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

let model: (PretrainedModel & { name: string }) | undefined;
let sessions: Sessions | undefined;
let running: AbortController | undefined;

function setStatus(status: DemoState["status"], error?: string): void {
  state.status = status;
  state.error = error;
  ui.output.dataset.state = status;
}

const formatBytes = (n: number) => (n < 1024 * 1024 ? `${(n / 1024).toFixed(0)} KB` : `${(n / 1024 / 1024).toFixed(1)} MB`);

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

async function load(source: ModelSource): Promise<void> {
  running?.abort();
  sessions?.dispose();
  model = undefined;
  sessions = undefined;
  ui.generate.disabled = true;
  ui.progress.removeAttribute("value"); // indeterminate until the first bytes arrive
  ui.loadStatus.dataset.state = "loading";
  ui.loadStatus.textContent = "Loading…";
  setStatus("loading");
  try {
    const loaded = await loadModel(source, ({ loaded, total, file }) => {
      ui.progress.max = Math.max(total, 1);
      ui.progress.value = loaded;
      ui.loadStatus.textContent = `${file}: ${formatBytes(loaded)}${total ? ` of ${formatBytes(total)}` : ""}`;
    });
    model = loaded;
    sessions = new Sessions(loaded.lm);
    state.model = loaded.name;
    ui.progress.max = 1;
    ui.progress.value = 1;
    ui.loadStatus.dataset.state = "ready";
    ui.loadStatus.textContent = `Loaded ${loaded.name}: ${loaded.lm.module.namedParameters().reduce((n, [, p]) => n + p.value.size, 0).toLocaleString()} parameters, ${loaded.tokenizer.vocabSize} tokens.`;
    ui.generate.disabled = false;
    setStatus("ready");
  } catch (e) {
    ui.progress.value = 0;
    ui.loadStatus.dataset.state = "error";
    ui.loadStatus.textContent = `Could not load the model: ${(e as Error).message}`;
    setStatus("error", (e as Error).message);
  }
}

function chosenBackend(): string {
  const choice = ui.backend.value;
  if (choice !== "auto") return choice;
  return state.webgpu?.available ? "webgpu" : "cpu";
}

async function run(): Promise<void> {
  if (!model || !sessions) return;
  running?.abort();
  const controller = new AbortController();
  running = controller;
  const backend = chosenBackend();
  state.backend = backend;
  state.tokens = [];
  state.promptIds = [];
  state.tokensPerSecond = undefined;
  ui.output.textContent = "";
  ui.output.dataset.tokenIds = "[]";
  ui.stats.textContent = `Starting ${backend}…`;
  ui.generate.disabled = true;
  ui.stop.disabled = false;
  setStatus("generating");
  const prompt = document.createElement("span");
  prompt.className = "prompt";
  prompt.textContent = ui.prompt.value;
  ui.output.append(prompt);
  try {
    const session = await sessions.get(backend);
    const result = await generate({
      lm: model.lm,
      tokenizer: model.tokenizer,
      session,
      prompt: ui.prompt.value,
      maxNewTokens: Math.max(1, Math.floor(Number(ui.maxTokens.value) || 1)),
      temperature: Math.max(0, Number(ui.temperature.value) || 0),
      // The draw runs on the backend with the tokens (0 and 1 turn the filters off).
      topK: Math.max(0, Math.floor(Number(ui.topK.value) || 0)),
      topP: Math.min(1, Math.max(0.01, Number(ui.topP.value) || 1)),
      signal: controller.signal,
      onToken: ({ token, text, stats }) => {
        if (token >= 0) state.tokens.push(token);
        ui.output.append(text);
        ui.output.dataset.tokenIds = JSON.stringify(state.tokens);
        state.tokensPerSecond = stats.tokensPerSecond;
        ui.stats.dataset.tokensPerSecond = stats.tokensPerSecond?.toFixed(2) ?? "";
        ui.stats.textContent = `${backend} · ${stats.tokens} tokens · first after ${stats.firstTokenMs.toFixed(0)} ms${stats.tokensPerSecond === undefined ? "" : ` · ${stats.tokensPerSecond.toFixed(1)} tokens/s`}`;
      },
    });
    state.promptIds = result.promptIds;
    setStatus("done");
  } catch (e) {
    if (controller.signal.aborted) {
      ui.stats.textContent += " · stopped";
      setStatus("done");
    } else {
      ui.stats.textContent = `Generation failed on ${backend}: ${(e as Error).message}`;
      setStatus("error", (e as Error).message);
    }
  } finally {
    if (running === controller) running = undefined;
    ui.generate.disabled = !model;
    ui.stop.disabled = true;
  }
}

ui.loadBundled.addEventListener("click", () => void load({ kind: "url", url: ui.bundled.value }));
ui.loadUrl.addEventListener("click", () => {
  const url = ui.url.value.trim();
  if (url) void load({ kind: "url", url });
});
ui.folder.addEventListener("change", () => {
  if (ui.folder.files?.length) void load({ kind: "files", files: ui.folder.files });
});
ui.generate.addEventListener("click", () => void run());
ui.stop.addEventListener("click", () => running?.abort());

await showWebGpuSupport();

