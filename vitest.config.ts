import { defineConfig } from "vitest/config";

// One config for the whole workspace: `pnpm test` at the root runs every package's tests in one
// vitest process (one summary, one JSON report for CI); `pnpm --filter <pkg> test` runs one package
// with `--root` pointing at it. Workspace packages resolve to their TypeScript sources through the
// `@densessm/source` export condition, so tests never depend on a stale build.
const source = "@densessm/source";
// Vite's own defaults, which setting `conditions` would otherwise replace.
const clientConditions = ["module", "browser", "development|production"];
const serverConditions = ["module", "node", "development|production"];

export default defineConfig({
  resolve: { conditions: [source, ...clientConditions] },
  ssr: { resolve: { conditions: [source, ...serverConditions], externalConditions: [source] } },
  test: {
    include: ["**/test/**/*.test.ts"],
    exclude: ["**/node_modules/**", "**/dist/**"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
  },
});
