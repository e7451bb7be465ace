import { conformanceOps, conformanceSuite, PRIMITIVE_NAMES, Session } from "@densessm/core";
import { fusionConformance } from "@densessm/fusion";
import { selectiveScanConformance } from "@densessm/mamba";
import { retentionConformance } from "@densessm/retnet";
import { describe, expect, it } from "vitest";
import { WebGpuBackend } from "../src/index.js";

// Runs on whatever adapter this machine has: SwiftShader (software Vulkan) on CI. Without an
// adapter WebGpuBackend.create() throws, and every test here fails with that error: loudly.
const backend = await WebGpuBackend.create();
const session = new Session(backend);

describe(`backend-webgpu conformance (${backend.adapterInfo})`, () => {
  // Core's suite and the model packages' suites for the composites they define.
  const cases = [...conformanceSuite(), ...retentionConformance(), ...selectiveScanConformance(), ...fusionConformance()];
  for (const c of cases) it(c.name, () => c.run(session));

  it("the suites exercise every primitive and every fused composite", () => {
    const covered = conformanceOps(cases);
    const missing = [...PRIMITIVE_NAMES, ...backend.capabilities.ops].filter((op) => !covered.has(op));
    expect(missing).toEqual([]);
  });
});
