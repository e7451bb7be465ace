// End to end: builds the page, serves it on 127.0.0.1, drives it in headless Chromium (WebGPU on
// SwiftShader) and checks that the token ids it generates in its worker equal backend-cpu's in this
// process for the same prompt and greedy decoding; that the page stays responsive while it decodes;
// that Stop ends a run within a token; and that a second visit loads the model offline from the
// cache. Leaves a screenshot in test-artifacts/e2e.png for CI.
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { CpuBackend } from "@densessm/backend-cpu";
import { Session } from "@densessm/core";
import { generateTokens, loadPretrained } from "@densessm/lm";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { build } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DemoState } from "../src/main.js";
import { serveStatic } from "./static-server.js";

const app = join(dirname(fileURLToPath(import.meta.url)), "..");
const CHROMIUM = process.env.DENSESSM_CHROMIUM ?? "/usr/bin/chromium";
const ARGS = ["--enable-unsafe-webgpu", "--use-webgpu-adapter=swiftshader", "--no-sandbox", "--headless=new", "--disable-gpu-sandbox", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const PROMPT = "ROMEO:";
// SwiftShader runs every kernel on the CPU: a few tokens are enough to compare decoding.
const NEW_TOKENS = 8;

/** The bundled default: DenseRetNet trained on tinyshakespeare, quantized to int8. */
const TRAINED = "tinyshakespeare-int8";

/** Greedy decoding with backend-cpu on the bundled folder's files, as the page would decode. */
async function cpuReference(model: string): Promise<{ promptIds: number[]; tokens: number[] }> {
  const dir = join(app, "public", "models", model);
  const files = await Promise.all(
    (await readdir(dir)).map(async (name) => {
      const bytes = await readFile(join(dir, name));
      return { name, arrayBuffer: async () => bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer };
    }),
  );
  const { lm, tokenizer } = await loadPretrained(files);
  const session = new Session(new CpuBackend());
  const promptIds = tokenizer.encode(PROMPT);
  const tokens: number[] = [];
  const options = { maxNewTokens: NEW_TOKENS, temperature: 0, vocabSize: tokenizer.vocabSize, ...(tokenizer.eosTokenId === undefined ? {} : { eosTokenId: tokenizer.eosTokenId }) };
  for await (const { token } of generateTokens(lm, session, [promptIds], options)) tokens.push(token);
  return { promptIds, tokens };
}

const readState = (page: Page) => page.evaluate(() => window.__densessm) as Promise<DemoState>;

/** How the page is given the model: each of its three sources is exercised by one test. */
type Source = "bundled" | "url" | "folder";

/** Loads a bundled model folder through the page's controls. */
async function loadInPage(page: Page, model: string, source: Source): Promise<DemoState> {
  if (source === "bundled") {
    await page.selectOption("#bundled", `models/${model}/`);
    await page.click("#load-bundled");
  } else if (source === "url") {
    await page.fill("#model-url", new URL(`models/${model}/`, page.url()).href);
    await page.click("#load-url");
  } else await page.setInputFiles("#model-folder", join(app, "public", "models", model));
  await page.waitForFunction(() => ["ready", "error"].includes(window.__densessm.status), undefined, { timeout: 60_000 });
  return readState(page);
}

/** Starts a run of `tokens` tokens with greedy decoding on `backend`. */
async function startRun(page: Page, backend: string, tokens = NEW_TOKENS): Promise<void> {
  await page.selectOption("#backend", backend);
  await page.fill("#max-tokens", String(tokens));
  await page.fill("#temperature", "0");
  await page.fill("#prompt", PROMPT);
  await page.click("#generate");
}

const finished = (page: Page) => page.waitForFunction(() => ["done", "error"].includes(window.__densessm.status), undefined, { timeout: 100_000 });

/** Loads a bundled model folder through the page's controls and generates with `backend`. */
async function generateInPage(page: Page, model: string, source: Source, backend: string): Promise<DemoState> {
  const loaded = await loadInPage(page, model, source);
  if (loaded.status === "error") throw new Error(`the page could not load ${model}: ${loaded.error}`);
  await startRun(page, backend);
  await finished(page);
  const state = await readState(page);
  if (state.status === "error") throw new Error(`generation in the page failed on ${backend}: ${state.error}`);
  return state;
}

/** Ticks a timer on the page's main thread every 10 ms; `gaps` gives the longest wait between ticks. */
async function startTicking(page: Page): Promise<void> {
  await page.evaluate(() => {
    const ticks: number[] = [];
    (window as unknown as { __ticks: number[] }).__ticks = ticks;
    setInterval(() => ticks.push(performance.now()), 10);
  });
}

const longestGap = (page: Page) =>
  page.evaluate(() => {
    const ticks = (window as unknown as { __ticks: number[] }).__ticks;
    return { count: ticks.length, gap: Math.max(...ticks.slice(1).map((t, i) => t - ticks[i]!)) };
  });

describe("the browser demo", () => {
  let server: Awaited<ReturnType<typeof serveStatic>>;
  let browser: Browser;
  let context: BrowserContext;
  let out: string;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install Debian's chromium (see .ci/apt-packages) or set DENSESSM_CHROMIUM to a Chromium binary`);
    // Build into a temporary folder so a concurrent `pnpm build` of apps/web/dist is never disturbed.
    out = await mkdtemp(join(tmpdir(), "densessm-web-"));
    await build({ root: app, configFile: join(app, "vite.config.ts"), logLevel: "error", build: { outDir: out, emptyOutDir: true } });
    server = await serveStatic(out);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    // One context for every visit, like one browser profile: its caches and service worker persist.
    context = await browser.newContext({ viewport: { width: 1000, height: 1000 } });
  });

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await server?.close();
    if (out) await rm(out, { recursive: true, force: true });
  });

  async function openPage(options: { hideWebGpu?: boolean } = {}): Promise<Page> {
    const page = await context.newPage();
    page.on("pageerror", (e) => pageErrors.push(e.message));
    // Stands in for a browser without WebGPU: the page must say so and fall back to the CPU.
    if (options.hideWebGpu) await page.addInitScript(() => delete (Navigator.prototype as { gpu?: unknown }).gpu);
    await page.goto(server.url);
    await page.waitForFunction(() => window.__densessm?.webgpu !== undefined);
    return page;
  }

  it.each([
    [TRAINED, "bundled"],
    ["dense-gau-retnet-tiny", "bundled"],
    ["mamba-tiny", "url"],
  ] as const)("generates %s's greedy tokens (loaded as %s) on WebGPU exactly as backend-cpu does, with the page responsive", async (model, source) => {
    const page = await openPage();
    const support = (await readState(page)).webgpu;
    expect(support?.available, `WebGPU should be available in Chromium with SwiftShader (${support?.available === false ? support.reason : ""})`).toBe(true);
    await startTicking(page);
    const state = await generateInPage(page, model, source, "webgpu");
    const reference = await cpuReference(model);
    expect(state.backend).toBe("webgpu");
    expect(state.model).toContain(model);
    expect(state.promptIds).toEqual(reference.promptIds);
    expect(state.tokens).toEqual(reference.tokens);
    expect(state.tokens).toHaveLength(NEW_TOKENS);
    expect(await page.getAttribute("#output", "data-token-ids")).toBe(JSON.stringify(reference.tokens));
    expect(Number(await page.getAttribute("#stats", "data-tokens-per-second"))).toBeGreaterThan(0);
    await expect(page.textContent("#stats")).resolves.toMatch(/tokens\/s/);
    // The worker decoded; the page's timer kept ticking (a frozen page would show one long gap).
    const { count, gap } = await longestGap(page);
    expect(count).toBeGreaterThan(5);
    expect(gap).toBeLessThan(500);
    if (model === TRAINED) {
      expect(state.info).toMatchObject({ family: "dense-gau-retnet", quantization: "int8" });
      expect(state.info!.parameters).toBeGreaterThan(3_000_000);
      await expect(page.textContent("#load-status")).resolves.toMatch(/3,3\d\d,\d{3} parameters \(int8\), 3\.\d\d MB/);
      await mkdir(join(app, "test-artifacts"), { recursive: true });
      await page.screenshot({ path: join(app, "test-artifacts", "e2e.png"), fullPage: true });
    }
    await page.close();
    expect(pageErrors).toEqual([]);
  });

  it("keeps the page responsive on the CPU backend too, and Stop ends a run within one token", async () => {
    const page = await openPage();
    expect((await loadInPage(page, TRAINED, "bundled")).status).toBe("ready");
    await startTicking(page);
    await startRun(page, "cpu", 400);
    await page.waitForFunction(() => window.__densessm.tokens.length >= 3, undefined, { timeout: 60_000 });
    await page.click("#stop");
    await finished(page);
    const state = await readState(page);
    expect(state.stopped).toBe(true);
    expect(state.tokensAfterStop).toBeLessThanOrEqual(1); // counted by the worker from when Stop reached it
    expect(state.tokens.length).toBeLessThan(400);
    await expect(page.textContent("#stats")).resolves.toMatch(/stopped$/);
    const { count, gap } = await longestGap(page);
    expect(count).toBeGreaterThan(5);
    expect(gap).toBeLessThan(500);
    await page.close();
    expect(pageErrors).toEqual([]);
  });

  it("loads the model of a second visit from the cache with the network blocked, and clears the cache", async () => {
    const first = await openPage();
    // The service worker registers after WebGPU is probed; on a loaded machine it can take a while.
    await first.waitForFunction(() => window.__densessm.offline !== undefined, undefined, { timeout: 60_000 });
    expect((await readState(first)).offline).toBe("ready");
    expect((await loadInPage(first, TRAINED, "bundled")).info?.bytes).toBeGreaterThan(3_000_000);
    await first.close();

    await context.setOffline(true);
    try {
      const page = await openPage(); // the page itself comes from the service worker's cache
      const loaded = await loadInPage(page, TRAINED, "bundled");
      expect(loaded.status, loaded.error).toBe("ready");
      expect(loaded.info!.cachedBytes).toBe(loaded.info!.bytes);
      await expect(page.textContent("#load-status")).resolves.toMatch(/\(from the cache\)/);
      await startRun(page, "cpu");
      await finished(page);
      expect((await readState(page)).tokens).toEqual((await cpuReference(TRAINED)).tokens);

      await page.click("#clear-cache");
      await expect(page.waitForFunction(() => /^Cleared \d+ cached files?\./.test(document.getElementById("cache-status")!.textContent ?? ""))).resolves.toBeTruthy();
      const offline = await loadInPage(page, TRAINED, "bundled");
      expect(offline.status).toBe("error");
      expect(offline.error).toMatch(/download failed/);
      await page.close();
    } finally {
      await context.setOffline(false);
    }
    expect(pageErrors).toEqual([]);
  });

  it("says plainly when WebGPU is unavailable and generates on the CPU backend instead", async () => {
    const page = await openPage({ hideWebGpu: true });
    await expect(page.textContent("#webgpu-status")).resolves.toMatch(/^WebGPU is unavailable: .*CPU backend/);
    expect(await page.isDisabled('#backend option[value="webgpu"]')).toBe(true);
    const state = await generateInPage(page, "dense-gau-retnet-tiny", "folder", "auto");
    expect(state.backend).toBe("cpu");
    expect(state.tokens).toEqual((await cpuReference("dense-gau-retnet-tiny")).tokens);
    await page.close();
    expect(pageErrors).toEqual([]);
  });
});
