import { describe, expect, it } from "vitest";
import { BackendError, getBackend, listBackends, registerBackend, unregisterBackend, type Backend } from "../src/index.js";

const fake = (name: string): Backend => ({
  name,
  capabilities: { ops: new Set(), dtypes: ["float32", "int32"] },
  compile: () => Promise.reject(new Error("not for running")),
  upload: (t) => t,
  download: (t) => Promise.reject(new Error(`${String(t)}`)),
  release: () => {},
  memory: () => ({ liveBytes: 0, peakBytes: 0 }),
});

describe("backend registry", () => {
  it("picks by name, or the best available by priority", async () => {
    registerBackend({ name: "slow", priority: 1, create: () => fake("slow") });
    registerBackend({ name: "fast", priority: 10, create: () => fake("fast") });
    registerBackend({ name: "absent", priority: 100, isAvailable: () => false, create: () => fake("absent") });
    registerBackend({ name: "software", priority: 50, preferred: () => false, create: () => fake("software") });
    try {
      expect(listBackends().map((b) => b.name).slice(0, 4)).toEqual(["absent", "software", "fast", "slow"]);
      expect((await getBackend()).name).toBe("fast"); // "software" runs, but only when named
      expect((await getBackend("software")).name).toBe("software");
      expect((await getBackend("slow")).name).toBe("slow");
      expect(await getBackend("slow")).toBe(await getBackend("slow"));
      await expect(getBackend("absent")).rejects.toThrow(/not available on this machine/);
      await expect(getBackend("nope")).rejects.toThrow(BackendError);
      await expect(getBackend("nope")).rejects.toThrow(/unknown backend "nope"; registered: absent, software, fast, slow/);
      expect(() => registerBackend({ name: "Bad Name", priority: 0, create: () => fake("x") })).toThrow(/lower-case/);
    } finally {
      for (const n of ["slow", "fast", "absent", "software"]) unregisterBackend(n);
    }
  });
});

describe("backend options (dtype)", () => {
  it("gives one instance per dtype, and refuses bf16 compute where the backend has none", async () => {
    registerBackend({ name: "mixed", priority: 1, create: (o) => ({ ...fake("mixed"), computeDtype: o.dtype ?? "f32" }) });
    registerBackend({ name: "plain", priority: 0, create: () => fake("plain") });
    try {
      const [f32, bf16] = [await getBackend("mixed"), await getBackend("mixed", { dtype: "bf16" })];
      expect([f32.computeDtype, bf16.computeDtype]).toEqual(["f32", "bf16"]);
      expect(f32).not.toBe(bf16);
      expect(await getBackend("mixed", { dtype: "bf16" })).toBe(bf16);
      expect(await getBackend("mixed", { dtype: "f32" })).toBe(f32);
      await expect(getBackend("plain", { dtype: "bf16" })).rejects.toThrow(/^backend "plain" computes in f32 only; bf16 compute needs a backend with bf16 matrix products \(cuda's tensor cores\)$/);
      await expect(getBackend("plain", { dtype: "bf16" })).rejects.toThrow(/computes in f32 only/); // a refusal is not cached as an instance
    } finally {
      for (const n of ["mixed", "plain"]) unregisterBackend(n);
    }
  });
});
