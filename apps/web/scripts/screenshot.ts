// Takes docs/web-demo.png the way the end-to-end test drives the page: builds it, serves it on
// 127.0.0.1, opens it in headless Debian Chromium (WebGPU on SwiftShader), loads the bundled
// trained default and samples a continuation of "ROMEO:" on WebGPU.
//
//   node --conditions=@densessm/source --import tsx apps/web/scripts/screenshot.ts
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { build } from "vite";
import { serveStatic } from "../test/static-server.js";

const app = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = await mkdtemp(join(tmpdir(), "densessm-web-"));
await build({ root: app, configFile: join(app, "vite.config.ts"), logLevel: "error", build: { outDir: out, emptyOutDir: true } });
const server = await serveStatic(out);
const browser = await chromium.launch({
  executablePath: process.env.DENSESSM_CHROMIUM ?? "/usr/bin/chromium",
  args: ["--enable-unsafe-webgpu", "--use-webgpu-adapter=swiftshader", "--no-sandbox", "--headless=new", "--disable-gpu-sandbox", "--no-first-run"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1000, height: 1000 } });
  await page.goto(server.url);
  await page.waitForFunction(() => window.__densessm?.offline !== undefined);
  await page.click("#load-bundled");
  await page.waitForFunction(() => window.__densessm.status === "ready", undefined, { timeout: 60_000 });
  await page.selectOption("#backend", "webgpu");
  await page.fill("#max-tokens", "60");
  await page.click("#generate");
  await page.waitForFunction(() => ["done", "error"].includes(window.__densessm.status), undefined, { timeout: 300_000 });
  await page.screenshot({ path: join(app, "..", "..", "docs", "web-demo.png"), fullPage: true });
  console.log(await page.textContent("#output"));
} finally {
  await browser.close();
  await server.close();
  await rm(out, { recursive: true, force: true });
}
