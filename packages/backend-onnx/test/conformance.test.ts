import { conformanceOps, conformanceSuite, PRIMITIVE_NAMES, Session } from "@densessm/core";
import { fusionConformance } from "@densessm/fusion";
import { selectiveScanConformance } from "@densessm/mamba";
import { retentionConformance } from "@densessm/retnet";
import { describe, expect, it } from "vitest";
import { loadNodeRuntime, loadWebRuntime, OnnxBackend } from "../src/index.js";

// The same lowering runs on both onnxruntime builds: the native one (the "onnx" backend) and the
// WebAssembly one browsers use (here under Node).
for (const [label, runtime] of [["onnxruntime-node", await loadNodeRuntime()], ["onnxruntime-web (wasm)", await loadWebRuntime()]] as const) {
  const backend = new OnnxBackend(runtime);
  const session = new Session(backend);

  describe(`backend-onnx conformance on ${label}`, () => {
    // Core's suite and the model packages' suites for the composites they define (decomposed here).
    const cases = [...conformanceSuite(), ...retentionConformance(), ...selectiveScanConformance(), ...fusionConformance()];
    for (const c of cases) it(c.name, () => c.run(session));

    it("the suites exercise every primitive and every fused composite", () => {
      const covered = conformanceOps(cases);
      const missing = [...PRIMITIVE_NAMES, ...backend.capabilities.ops].filter((op) => !covered.has(op));
      expect(missing).toEqual([]);
    });
  });
}
