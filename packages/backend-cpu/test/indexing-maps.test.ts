import { stridesOf } from "@densessm/core";
import { describe, expect, it } from "vitest";
import { broadcastStrides, runWalk, stridedIndex } from "../src/kernels/indexing-maps.js";

/** Every offset a run walk visits, in output order. */
function visited(walk: ReturnType<typeof runWalk>, k: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < walk.runs; r++) for (let e = 0; e < walk.run; e++) out.push(walk.offsets[k]![r]! + e * walk.steps[k]!);
  return out;
}

describe("runWalk", () => {
  it("visits exactly the offsets of the per-element maps, for broadcasts, permutes and slices", () => {
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    for (let trial = 0; trial < 300; trial++) {
      const rank = rand(5);
      const shape = Array.from({ length: rank }, () => [0, 1, 1, 2, 3, 5][rand(6)]!);
      // Operand 0: broadcast from a shape with some axes 1 or missing; operand 1: a permuted view.
      const lead = rand(rank + 1);
      const small = shape.slice(lead).map((d) => (rand(2) ? 1 : d));
      const perm = shape.map((_, i) => i).sort(() => rand(3) - 1);
      const source = perm.map((p) => shape[p]!);
      const srcStrides = stridesOf(source);
      const permStrides = shape.map((_, i) => srcStrides[perm.indexOf(i)]!);
      const strides = [broadcastStrides(small, shape), permStrides];
      const walk = runWalk(shape, strides, [0, 3]);
      expect(walk.run * walk.runs).toBe(shape.reduce((n, d) => n * d, 1));
      expect(visited(walk, 0)).toEqual([...stridedIndex(shape, strides[0]!)]);
      expect(visited(walk, 1)).toEqual([...stridedIndex(shape, strides[1]!, 3)]);
    }
  });

  it("merges the axes every operand walks contiguously into one run", () => {
    expect(runWalk([4, 8, 16], [stridesOf([4, 8, 16])]).run).toBe(512);
    const rowBroadcast = runWalk([4, 8, 16], [broadcastStrides([4, 8, 1], [4, 8, 16]), stridesOf([4, 8, 16])]);
    expect([rowBroadcast.run, rowBroadcast.runs, ...rowBroadcast.steps]).toEqual([16, 32, 0, 1]);
  });
});
