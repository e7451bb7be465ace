import { conformanceOps, conformanceSuite, PRIMITIVE_NAMES, Session } from "@densessm/core";
import { describe, expect, it } from "vitest";
import { loadNodeRuntime, loadWebRuntime, OnnxBackend } from "../src/index.js";

// The same lowering runs on both onnxruntime builds: the native one (the "onnx" backend) and the
// WebAssembly one browsers use (here under Node).
for (const [label, runtime] of [["onnxruntime-node", await loadNodeRuntime()], ["onnxruntime-web (wasm)", await loadWebRuntime()]] as const) {
  const backend = new OnnxBackend(runtime);
  const session = new Session(backend);

  describe(`backend-onnx conformance on ${label}`, () => {
    for (const c of conformanceSuite()) it(c.name, () => c.run(session));

    it("the suite exercises every primitive and every fused composite", () => {
      const covered = conformanceOps();
      const missing = [...PRIMITIVE_NAMES, ...backend.capabilities.ops].filter((op) => !covered.has(op));
      expect(missing).toEqual([]);
    });
  });
}
