/// <reference types="vite/client" />

/** Whether a second visit works without the network: the service worker keeps the page itself. */
export type OfflineSupport = "ready" | "unsupported" | "development";

/**
 * Registers public/sw.js, which keeps the built page for offline visits (model files are cached by
 * the worker). The dev server's modules change on every edit, so nothing is cached there.
 */
export async function registerOffline(): Promise<OfflineSupport> {
  if (import.meta.hot) return "development"; // the dev server (hot module replacement)
  if (!("serviceWorker" in navigator)) return "unsupported";
  try {
    await navigator.serviceWorker.register("./sw.js");
    await navigator.serviceWorker.ready;
    return "ready";
  } catch {
    return "unsupported";
  }
}
