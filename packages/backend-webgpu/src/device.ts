import { BackendError } from "@densessm/core";

/**
 * Where Debian's chromium package puts SwiftShader's Vulkan driver. Dawn in Node finds a software
 * adapter through it on machines without a GPU (CI), if the Vulkan loader (libvulkan1) is present.
 */
export const SWIFTSHADER_ICD = "/usr/lib/chromium/vk_swiftshader_icd.json";

interface DawnModule {
  create(flags: string[]): GPU;
}

let nodeGpu: Promise<GPU | undefined> | undefined;

const isNode = (): boolean => typeof process !== "undefined" && typeof process.versions?.node === "string";

/** Where the dynamic linker looks for libraries, besides its cache. */
function linkerDirs(): string[] {
  const multiarch = process.arch === "arm64" ? "aarch64-linux-gnu" : "x86_64-linux-gnu";
  return [...(process.env.LD_LIBRARY_PATH ?? "").split(":").filter(Boolean), `/usr/lib/${multiarch}`, `/lib/${multiarch}`, "/usr/lib64", "/lib64", "/usr/lib", "/lib", "/usr/local/lib"];
}

/**
 * Whether the Vulkan loader Dawn opens on Linux (libvulkan.so.1) can be found where the dynamic
 * linker looks: LD_LIBRARY_PATH, the usual library folders, and ld.so's cache. Without it Dawn has
 * no adapter to offer and prints a warning with a C++ source path, so it is not loaded at all.
 */
export async function hasVulkanLoader(dirs = linkerDirs(), cache = "/etc/ld.so.cache"): Promise<boolean> {
  const { existsSync, readFileSync } = await import("node:fs");
  if (dirs.some((d) => existsSync(`${d}/libvulkan.so.1`))) return true;
  try {
    return readFileSync(cache).includes("libvulkan.so.1");
  } catch {
    return false;
  }
}

/**
 * The WebGPU entry point: `navigator.gpu` in browsers (and in Deno or Node builds that have one),
 * otherwise the `webgpu` npm package (Dawn) in Node. Undefined when neither exists.
 */
export async function gpuEntry(): Promise<GPU | undefined> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  if (!isNode()) return undefined;
  nodeGpu ??= (async () => {
    // Dawn is loaded here, on the first request for an adapter, never when this package is
    // imported: commands that use no GPU (tokenize, train on cpu) never load it.
    if (process.platform === "linux" && !(await hasVulkanLoader())) return undefined;
    // The Vulkan loader reads this when Dawn first loads it, so it must be set before `create`.
    // Node built-ins are imported here, not at the top, so the browser build never references them.
    const { existsSync } = await import("node:fs");
    if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
    // A computed specifier keeps bundlers for the browser from pulling in the native module.
    const specifier = "webgpu";
    try {
      const dawn = (await import(/* @vite-ignore */ specifier)) as DawnModule;
      return dawn.create([]);
    } catch (e) {
      throw new BackendError(`webgpu: could not load the "webgpu" package (Dawn for Node): ${(e as Error).message}`);
    }
  })();
  return nodeGpu;
}

/** A fresh adapter (each can create one device), or null when there is none. */
export async function requestAdapter(): Promise<GPUAdapter | null> {
  const gpu = await gpuEntry();
  if (!gpu) return null;
  return gpu.requestAdapter({ powerPreference: "high-performance" });
}

/** A CPU implementation of WebGPU (SwiftShader, lavapipe, llvmpipe) or a fallback adapter. */
function isSoftware(info: GPUAdapterInfo): boolean {
  const text = [info.vendor, info.architecture, info.device, info.description].join(" ");
  return (info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter === true || /swiftshader|llvmpipe|lavapipe|software/i.test(text);
}

let probed: Promise<{ present: boolean; hardware: boolean }> | undefined;

/** What adapter this machine has (asked once per process). */
function probe(): Promise<{ present: boolean; hardware: boolean }> {
  probed ??= requestAdapter().then(
    (a) => ({ present: a !== null, hardware: a !== null && !isSoftware(a.info) }),
    () => ({ present: false, hardware: false }),
  );
  return probed;
}

/** Whether this machine has a WebGPU adapter at all. */
export const hasAdapter = async (): Promise<boolean> => (await probe()).present;

/** Whether that adapter is a real GPU, worth choosing over the CPU backends automatically. */
export const hasHardwareAdapter = async (): Promise<boolean> => (await probe()).hardware;

export interface AcquiredDevice {
  readonly device: GPUDevice;
  readonly adapterInfo: string;
  /** Whether the device has `shader-f16` (f16 weight storage is possible). */
  readonly shaderF16: boolean;
  /** A CPU implementation of WebGPU (SwiftShader, lavapipe, llvmpipe): kernels pick barrier-free forms. */
  readonly software: boolean;
}

/**
 * A device with the adapter's largest buffer limits (weights such as a 50k x 768 embedding exceed
 * the 128 MiB default binding size). A missing adapter is an error that says what to install,
 * never a silent fallback to another backend.
 */
export async function acquireDevice(): Promise<AcquiredDevice> {
  const adapter = await requestAdapter();
  if (!adapter) {
    const hint = isNode()
      ? `no WebGPU adapter was found. On Linux, Dawn needs the Vulkan loader (Debian's libvulkan1) and a driver: without a GPU, install Debian's chromium (SwiftShader at ${SWIFTSHADER_ICD}), or set VK_ICD_FILENAMES to a Vulkan driver's ICD file`
      : "navigator.gpu.requestAdapter() returned null: this browser or machine has WebGPU disabled";
    throw new BackendError(`webgpu: ${hint}`);
  }
  const shaderF16 = adapter.features.has("shader-f16");
  const l = adapter.limits;
  const device = await adapter.requestDevice({
    requiredFeatures: shaderF16 ? ["shader-f16"] : [],
    requiredLimits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    },
  });
  const info = adapter.info;
  const adapterInfo = [info.vendor, info.architecture, info.device, info.description].filter((s) => s).join(" ") || "unknown adapter";
  return { device, adapterInfo, shaderF16, software: isSoftware(info) };
}
