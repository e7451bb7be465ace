import { ops, Rng, Session, Tensor, trace } from "@densessm/core";
import { describe, expect, it } from "vitest";
import { loadNodeRuntime, OnnxBackend, SCAN_CHUNK } from "../src/index.js";

// The chunked Hillis–Steele lowering of `scan` against a sequential float64 loop, at lengths that
// cross chunk boundaries (and need padding), with zero and negative decays, h0, and reverse.
const session = new Session(new OnnxBackend(await loadNodeRuntime()));

function sequential(a: Float32Array, b: Float32Array, h0: Float32Array | undefined, [n, t, c]: [number, number, number], reverse: boolean): Float64Array {
  const out = new Float64Array(n * t * c);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < c; k++) {
      let h = h0 ? h0[i * c + k]! : 0;
      for (let s = 0; s < t; s++) {
        const step = reverse ? t - 1 - s : s;
        const at = (i * t + step) * c + k;
        h = a[at]! * h + b[at]!;
        out[at] = h;
      }
    }
  }
  return out;
}

describe("scan lowering", () => {
  const rng = new Rng(7);
  for (const length of [1, 2, SCAN_CHUNK, SCAN_CHUNK + 1, 3 * SCAN_CHUNK - 5, SCAN_CHUNK * SCAN_CHUNK + 3]) {
    for (const reverse of [false, true]) {
      it(`length ${length}${reverse ? ", reverse" : ""}, with h0`, async () => {
        const shape: [number, number, number] = [2, length, 3];
        const size = 2 * length * 3;
        // Decays in (-1, 1), some exactly zero (the gradient's shifted scan has one).
        const a = Float32Array.from({ length: size }, (_, i) => (i % 11 === 0 ? 0 : 1.9 * rng.uniform() - 0.95));
        const b = Float32Array.from({ length: size }, () => 2 * rng.uniform() - 1);
        const h0 = Float32Array.from({ length: 6 }, () => 2 * rng.uniform() - 1);
        const graph = trace((x) => ({ h: ops.scan(x.a!, x.b!, { axis: 1, reverse, h0: x.h0! }) }), { inputs: { a: { shape }, b: { shape }, h0: { shape: [2, 3] } } });
        const out = (await session.run(graph, { a: new Tensor(a, shape, "float32"), b: new Tensor(b, shape, "float32"), h0: new Tensor(h0, [2, 3], "float32") })).h!.toFloat32();
        const expected = sequential(a, b, h0, shape, reverse);
        let worst = 0;
        for (let i = 0; i < size; i++) worst = Math.max(worst, Math.abs(out[i]! - expected[i]!) / Math.max(1, Math.abs(expected[i]!)));
        expect(worst).toBeLessThan(1e-5);
      });
    }
  }
});
