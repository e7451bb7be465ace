// The whole GPU executor with every GPU kernel, on a machine with no GPU: core's conformance suite
// and the model packages' suites for their composites, on the interpreter runtime in debug mode
// (every access bounds-checked, every barrier and workgroup-memory read checked).
import "@densessm/backend-cpu";
import { conformanceOps, conformanceSuite, getBackend, listBackends, PRIMITIVE_NAMES, Session } from "@densessm/core";
import { fusionConformance } from "@densessm/fusion";
import { selectiveScanConformance } from "@densessm/mamba";
import { retentionConformance } from "@densessm/retnet";
import { describe, expect, it } from "vitest";
import "../src/index.js";

const backend = await getBackend("gpu-interpreter");
const session = new Session(backend);

describe("gpu-interpreter conformance", () => {
  const cases = [...conformanceSuite(), ...retentionConformance(), ...selectiveScanConformance(), ...fusionConformance()];
  for (const c of cases) it(c.name, () => c.run(session));

  it("is registered by name with the lowest priority, and automatic selection never picks it", async () => {
    expect(backend.name).toBe("gpu-interpreter");
    expect(listBackends().at(-1)).toEqual({ name: "gpu-interpreter", priority: -10 });
    expect((await getBackend()).name).toBe("cpu");
  });

  it("the suites exercise every primitive and every fused composite", () => {
    const covered = conformanceOps(cases);
    const missing = [...PRIMITIVE_NAMES, ...backend.capabilities.ops].filter((op) => !covered.has(op));
    expect(missing).toEqual([]);
  });
});
