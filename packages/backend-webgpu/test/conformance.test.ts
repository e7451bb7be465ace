import { conformanceOps, conformanceSuite, PRIMITIVE_NAMES, Session } from "@densessm/core";
import { describe, expect, it } from "vitest";
import { WebGpuBackend } from "../src/index.js";

// Runs on whatever adapter this machine has: SwiftShader (software Vulkan) on CI. Without an
// adapter WebGpuBackend.create() throws, and every test here fails with that error: loudly.
const backend = await WebGpuBackend.create();
const session = new Session(backend);

describe(`backend-webgpu conformance (${backend.adapterInfo})`, () => {
  for (const c of conformanceSuite()) it(c.name, () => c.run(session));

  it("the suite exercises every primitive and every fused composite", () => {
    const covered = conformanceOps();
    const missing = [...PRIMITIVE_NAMES, ...backend.capabilities.ops].filter((op) => !covered.has(op));
    expect(missing).toEqual([]);
  });
});
