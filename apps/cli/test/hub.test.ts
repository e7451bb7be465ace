// `densessm generate --model org/name`: the model comes from the hub named by $DENSESSM_HUB_URL
// (a local one on 127.0.0.1 here) into the cache named by $DENSESSM_CACHE.
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestHub, type TestHub } from "../../../packages/lm/test/hub-server.js";
import { cli } from "./helpers.js";

let hub: TestHub;
let cache: string;
beforeAll(async () => {
  hub = await startTestHub();
  cache = await mkdtemp(join(tmpdir(), "densessm-cli-cache-"));
});
afterAll(async () => {
  await hub.close();
  await rm(cache, { recursive: true, force: true });
});

describe("densessm generate --model org/name", () => {
  it("downloads through $DENSESSM_HUB_URL into $DENSESSM_CACHE, then runs offline from it", async () => {
    const saved = { ...process.env };
    process.env.DENSESSM_HUB_URL = hub.url;
    process.env.DENSESSM_CACHE = cache;
    try {
      const online = await cli("generate", "--model", "org/mamba-tiny", "--prompt", "abc", "--max-tokens", "4", "--backend", "cpu", "--json");
      expect(online.code).toBe(0);
      expect((JSON.parse(online.out) as { texts: string[] }).texts).toHaveLength(1);
      expect(await readdir(join(cache, "models", "org", "mamba-tiny", "main"))).toContain("model.safetensors");
      expect(online.err).toMatch(/model\.safetensors .*100%/);

      process.env.DENSESSM_HUB_URL = "http://127.0.0.1:9"; // nothing listens: only the cache can answer
      const offline = await cli("generate", "--model", "org/mamba-tiny", "--prompt", "abc", "--max-tokens", "4", "--backend", "cpu", "--json", "--offline");
      expect(offline.code).toBe(0);
      expect(offline.out).toBe(online.out);

      const missing = await cli("generate", "--model", "org/absent", "--prompt", "abc", "--offline");
      expect(missing.code).toBe(1);
      expect(missing.err).toMatch(/^densessm: .*org\/absent\/resolve\/main\/config\.json: not in the cache .* offline mode is on/);
    } finally {
      for (const k of ["DENSESSM_HUB_URL", "DENSESSM_CACHE"]) if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });
});
