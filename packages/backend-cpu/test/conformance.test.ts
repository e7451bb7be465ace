import { conformanceOps, conformanceSuite, PRIMITIVE_NAMES, Session } from "@densessm/core";
import { describe, expect, it } from "vitest";
import { CpuBackend } from "../src/index.js";

const session = new Session(new CpuBackend());

describe("backend-cpu conformance", () => {
  for (const c of conformanceSuite()) it(c.name, () => c.run(session));

  // Model packages' ops ("retnet.retentionStep") are checked on this backend by their own package's
  // suite (packages/retnet/test/retention-ops.test.ts), since they depend on this one.
  it("the suite exercises every primitive and every fused composite of core", () => {
    const covered = conformanceOps();
    const missing = [...PRIMITIVE_NAMES, ...new CpuBackend().capabilities.ops].filter((op) => !op.includes(".") && !covered.has(op));
    expect(missing).toEqual([]);
  });
});
