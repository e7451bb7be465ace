// Both official fixtures on the CUDA backend over the mock driver, in every forward form, to 1e-4
// (@densessm/gpu's suite: the bar every backend meets), decoding through CUDA graphs.
import { Session } from "@densessm/core";
import { describe, expect, it } from "vitest";
import { officialFixtures } from "../../gpu/test/official-fixtures.js";
import { mockBackend } from "./helpers.js";

const { backend, driver } = await mockBackend();
officialFixtures("cuda (mock driver)", new Session(backend));

describe("the recurrent forms on cuda (mock driver)", () => {
  it("ran the recurrent steps as CUDA graphs once they repeated", () => {
    expect(backend.runtime.graphs!.stats.replays).toBeGreaterThan(0);
    expect(driver.calls.cuGraphLaunch).toBe(backend.runtime.graphs!.stats.replays);
  });
});
