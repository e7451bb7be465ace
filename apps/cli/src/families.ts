// The model families the CLI knows, and the backends it can run them on. Importing a backend
// package registers it; each family says which config.json files it loads.
import "@densessm/backend-cpu";
import "@densessm/backend-webgpu";
import "@densessm/backend-onnx";
import * as mamba from "@densessm/mamba";
import * as retnet from "@densessm/retnet";
import { registerFamily } from "./models.js";

registerFamily({
  name: "retnet",
  matches: (config) => {
    try {
      retnet.detectArchitecture(config);
      return true;
    } catch {
      return false;
    }
  },
  load: (dir) => retnet.loadCausalLM(dir),
});

registerFamily({
  name: "mamba",
  matches: (config) => "d_model" in config || "ssm_cfg" in config || "state_size" in config || String(config.model_type ?? "").toLowerCase().includes("mamba"),
  load: (dir) => mamba.loadCausalLM(dir),
});
