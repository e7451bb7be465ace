// Core's conformance suite and the model packages' suites for their composites, on the CUDA
// backend over the mock driver: every launch goes through the argument blocks, the stream, the
// caching allocator and (for repeated work) CUDA graphs, and runs in the interpreter.
import "@densessm/backend-cpu";
import { conformanceOps, conformanceSuite, PRIMITIVE_NAMES, Session } from "@densessm/core";
import { fusionConformance } from "@densessm/fusion";
import { selectiveScanConformance } from "@densessm/mamba";
import { retentionConformance } from "@densessm/retnet";
import { describe, expect, it } from "vitest";
import { mockBackend } from "./helpers.js";

const { backend, driver } = await mockBackend({ mock: { debug: true } });
const session = new Session(backend);

describe("cuda (mock driver) conformance", () => {
  const cases = [...conformanceSuite(backend.capabilities), ...retentionConformance(), ...selectiveScanConformance(), ...fusionConformance()];
  for (const c of cases) it(c.name, () => c.run(session));

  it("the suites exercise every primitive and every fused composite", () => {
    const covered = conformanceOps(cases);
    expect([...PRIMITIVE_NAMES, ...backend.capabilities.ops].filter((op) => !covered.has(op))).toEqual([]);
  });

  it("went through the driver: launches, copies to the host, and CUDA graphs of repeated runs", () => {
    expect(driver.calls.cuLaunchKernel).toBeGreaterThan(1000);
    expect(driver.calls.cuMemcpyDtoHAsync).toBeGreaterThan(100);
    expect(driver.calls.cuGraphLaunch).toBeGreaterThan(0);
  });
});
