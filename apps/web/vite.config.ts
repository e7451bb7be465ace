import { defaultClientConditions, defineConfig, type Plugin, type UserConfig } from "vite";

type OnLog = NonNullable<NonNullable<NonNullable<UserConfig["build"]>["rolldownOptions"]>["onLog"]>;

/** Lists the built files in precache.json, which the service worker (public/sw.js) keeps for offline visits. */
function precacheManifest(): Plugin {
  return {
    name: "densessm-precache-manifest",
    apply: "build",
    generateBundle(_, bundle) {
      const files = Object.keys(bundle).filter((f) => !f.endsWith(".map"));
      this.emitFile({ type: "asset", fileName: "precache.json", source: JSON.stringify({ files }) });
    },
  };
}

/**
 * The packages' Node-only loaders import node:* dynamically, inside functions the page never
 * calls; Vite stubs those modules and would otherwise warn once per import.
 */
const quietNodeStubs: OnLog = (level, log, handler) => {
  if (log.message.includes("externalized for browser compatibility") || log.code === "INEFFECTIVE_DYNAMIC_IMPORT") return;
  handler(level, log);
};

// The workspace packages export their TypeScript sources under the "@densessm/source" condition, so
// the page bundles the sources directly: no package build is needed first, and never a stale one.
export default defineConfig({
  base: "./",
  plugins: [precacheManifest()],
  // The model worker (src/worker.ts) bundles the packages too.
  worker: { format: "es", rolldownOptions: { onLog: quietNodeStubs } },
  resolve: { conditions: ["@densessm/source", ...defaultClientConditions] },
  build: {
    target: "es2022",
    rolldownOptions: { onLog: quietNodeStubs },
  },
  server: { host: "127.0.0.1" },
  preview: { host: "127.0.0.1" },
});
