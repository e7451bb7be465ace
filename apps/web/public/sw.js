// The demo's service worker: keeps the built page (index.html and the files precache.json lists)
// so a second visit works offline. Network first, so a new build is picked up whenever the network
// is there; the cache answers only when it is not. Model files are not its business: the page's
// worker caches those itself (src/model-cache.ts), with progress and a "clear cache" button.
const SHELL = "densessm-app-v1";

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const manifest = await (await fetch("./precache.json", { cache: "no-cache" })).json();
      await (await caches.open(SHELL)).addAll(["./", ...manifest.files]);
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("fetch", (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin || url.pathname.includes("/models/")) return;
  event.respondWith(
    (async () => {
      try {
        const response = await fetch(request);
        if (response.ok) {
          const copy = response.clone();
          event.waitUntil(caches.open(SHELL).then((cache) => cache.put(request, copy)));
        }
        return response;
      } catch (e) {
        const hit = await caches.match(request, { ignoreSearch: true });
        if (hit) return hit;
        throw e;
      }
    })(),
  );
});
