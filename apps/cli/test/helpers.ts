import { vi } from "vitest";
import { main } from "../src/index.js";

/** Runs the CLI in-process, capturing what it prints (console and both streams). */
export async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const spies = [
    vi.spyOn(console, "log").mockImplementation((...a: unknown[]) => void out.push(a.join(" "))),
    vi.spyOn(console, "error").mockImplementation((...a: unknown[]) => void err.push(a.join(" "))),
    vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => (err.push(String(chunk)), true)),
    vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => (out.push(String(chunk)), true)),
  ];
  try {
    return { code: await main(["node", "densessm", ...args]), out: out.join("\n"), err: err.join("") };
  } finally {
    for (const s of spies) s.mockRestore();
  }
}
