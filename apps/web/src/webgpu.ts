/// <reference types="@webgpu/types" />

/** Whether this page can use WebGPU, and if not, why not in words a user can act on. */
export type WebGpuSupport = { available: true; adapter: string } | { available: false; reason: string };

export async function detectWebGpu(): Promise<WebGpuSupport> {
  if (!window.isSecureContext) {
    return { available: false, reason: "WebGPU needs a secure context: open this page over https:// or from localhost / 127.0.0.1" };
  }
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) {
    return { available: false, reason: "this browser does not offer WebGPU (navigator.gpu is missing); recent Chrome, Edge and Safari have it, Firefox on some platforms" };
  }
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter();
  } catch (e) {
    return { available: false, reason: `requesting a GPU adapter failed (${(e as Error).message})` };
  }
  if (!adapter) return { available: false, reason: "the browser found no usable GPU adapter (WebGPU is disabled, or this GPU or driver is blocklisted)" };
  const info = adapter.info;
  const name = [info.vendor, info.architecture, info.description].filter(Boolean).join(" ") || "unnamed adapter";
  return { available: true, adapter: info.isFallbackAdapter ? `${name} (software fallback)` : name };
}
