// Dawn (the native `webgpu` module) loads only when an adapter is asked for, never at import, and
// not at all where it would only print a warning: without the Vulkan loader on Linux.
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { hasVulkanLoader } from "../src/index.js";

const root = fileURLToPath(new URL("..", import.meta.url));

/** Runs `body` (ESM, with `backend` = this package's entry) in a fresh Node and returns whether Dawn got mapped. */
function dawnLoadedAfter(body: string): string {
  const script = `const backend = await import(${JSON.stringify(join(root, "src/index.ts"))});
${body}
const { readFileSync } = await import("node:fs");
console.log(readFileSync("/proc/self/maps", "utf8").includes("dawn") ? "dawn loaded" : "dawn not loaded");`;
  const out = execFileSync(process.execPath, ["--conditions=@densessm/source", "--import", "tsx", "--input-type=module", "-e", script], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  return out.trim().split("\n").pop()!;
}

describe("loading Dawn", () => {
  it("does not happen when the package is imported and registered", () => {
    expect(dawnLoadedAfter("")).toBe("dawn not loaded");
  });

  it("happens when the backend is probed (this machine has the Vulkan loader)", () => {
    expect(dawnLoadedAfter("await backend.hasAdapter();")).toBe("dawn loaded");
  });

  it("is skipped without the Vulkan loader, which is found in the linker's folders or its cache", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vulkan-"));
    expect(await hasVulkanLoader([dir], join(dir, "no-cache"))).toBe(false);
    writeFileSync(join(dir, "cache"), "...libvulkan.so.1...");
    expect(await hasVulkanLoader([dir], join(dir, "cache"))).toBe(true);
    writeFileSync(join(dir, "libvulkan.so.1"), "");
    expect(await hasVulkanLoader([dir], join(dir, "no-cache"))).toBe(true);
  });
});
