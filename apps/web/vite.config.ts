import { defaultClientConditions, defineConfig } from "vite";

// The workspace packages export their TypeScript sources under the "@densessm/source" condition, so
// the page bundles the sources directly: no package build is needed first, and never a stale one.
export default defineConfig({
  base: "./",
  resolve: { conditions: ["@densessm/source", ...defaultClientConditions] },
  build: {
    target: "es2022",
    rolldownOptions: {
      onLog(level, log, handler) {
        // The packages' Node-only loaders import node:* dynamically, inside functions the page never
        // calls; Vite stubs those modules and would otherwise warn once per import.
        if (log.message.includes("externalized for browser compatibility")) return;
        handler(level, log);
      },
    },
  },
  server: { host: "127.0.0.1" },
  preview: { host: "127.0.0.1" },
});
