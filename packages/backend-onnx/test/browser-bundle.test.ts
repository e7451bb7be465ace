// The package entry bundles for the browser: nothing it imports statically needs Node (node:* is
// only ever loaded lazily, by the file-writing export), and onnxruntime-node (loaded on demand, for
// Node) is mapped away by package.json's "browser" field.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

describe("browser bundle", () => {
  it("bundles src/index.ts for the browser with no node:* import and no onnxruntime-node", async () => {
    const result = await build({
      entryPoints: [fileURLToPath(new URL("../src/index.ts", import.meta.url))],
      bundle: true,
      platform: "browser",
      format: "esm",
      write: false,
      conditions: ["@densessm/source"],
      // Left to the page's bundler: onnxruntime-web, and node:* for the lazy imports checked below.
      external: ["onnxruntime-web", "node:*"],
      logLevel: "silent",
    });
    const code = result.outputFiles[0]!.text;
    expect(result.errors).toEqual([]);
    // Only dynamic imports of node:* (evaluated when a Node-only function runs), never a static one.
    expect(code).not.toMatch(/(^|\n)\s*import[^(\n]*["']node:/);
    expect(code).not.toMatch(/require\(["']node:/);
    expect(code).toMatch(/import\(["']node:fs\/promises["']\)/);
    expect(code).not.toContain("onnxruntime_binding");
    expect(code).toContain("exportOnnx");
  });
});
