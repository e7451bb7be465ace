// The backends the CLI offers: importing a backend package registers it by name.
import "@densessm/backend-cpu";
import "@densessm/backend-webgpu";
import "@densessm/backend-onnx";
import "@densessm/backend-cuda";
