import { conformanceOps, conformanceSuite, PRIMITIVE_NAMES, Session } from "@densessm/core";
import { describe, expect, it } from "vitest";
import { CpuBackend } from "../src/index.js";

const session = new Session(new CpuBackend());

describe("backend-cpu conformance", () => {
  for (const c of conformanceSuite()) it(c.name, () => c.run(session));

  it("the suite exercises every primitive and every fused composite", () => {
    const covered = conformanceOps();
    const missing = [...PRIMITIVE_NAMES, ...new CpuBackend().capabilities.ops].filter((op) => !covered.has(op));
    expect(missing).toEqual([]);
  });
});
