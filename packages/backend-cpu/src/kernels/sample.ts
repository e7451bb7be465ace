import { argmax, Tensor, type SampleAttrs } from "@densessm/core";
import type { KernelFactory } from "./types.js";

/**
 * `sample` with exact thresholds: where core's decomposition (and a GPU) bisects for the top-k
 * and top-p cut-offs, a CPU can afford one native sort per row and find them exactly. The two
 * agree except for tokens within 2^-32 of a cut-off (see SAMPLE_SEARCH_STEPS).
 */
export const sampleKernel: KernelFactory = (node, [logitsNode]) => {
  const [rows, vocab] = logitsNode!.shape as [number, number];
  const { temperature, topK, topP } = node.attrs as SampleAttrs;
  const invT = Math.fround(1 / temperature);
  return ([logits, uniforms], alloc) => {
    const x = logits!.data as Float32Array;
    const u = uniforms!.data as Float32Array;
    const out = alloc("int32", rows) as Int32Array;
    const w = new Float32Array(vocab);
    for (let r = 0; r < rows; r++) {
      const row = x.subarray(r * vocab, (r + 1) * vocab);
      if (temperature === 0) {
        out[r] = argmax(row);
        continue;
      }
      let mx = -Infinity;
      for (let j = 0; j < vocab; j++) mx = Math.max(mx, Math.fround(row[j]! * invT));
      for (let j = 0; j < vocab; j++) w[j] = Math.exp(Math.fround(row[j]! * invT) - mx);
      if ((topK > 0 && topK < vocab) || topP < 1) {
        const ascending = w.slice().sort();
        let keptFrom = 0; // ascending[keptFrom..] are the weights kept so far
        if (topK > 0 && topK < vocab) {
          const tau = ascending[vocab - topK]!;
          keptFrom = vocab - topK;
          while (keptFrom > 0 && ascending[keptFrom - 1] === tau) keptFrom--; // ties at the cut-off stay
          dropBelow(w, tau);
        }
        if (topP < 1) {
          let mass = 0;
          for (let j = keptFrom; j < vocab; j++) mass += ascending[j]!;
          const goal = mass * Math.fround(topP);
          let top = 0;
          let j = vocab - 1;
          while (j > keptFrom && top + ascending[j]! < goal) top += ascending[j--]!;
          dropBelow(w, ascending[j]!);
        }
      }
      let total = 0;
      for (let j = 0; j < vocab; j++) total += w[j]!;
      const goal = u[r]! * total;
      let running = 0;
      let count = 0;
      let last = 0;
      for (let j = 0; j < vocab; j++) {
        running += w[j]!;
        if (running <= goal) count++;
        if (w[j]! > 0) last = j;
      }
      out[r] = Math.min(count, last);
    }
    return new Tensor(out, node.shape, "int32");
  };
};

function dropBelow(w: Float32Array, tau: number): void {
  for (let j = 0; j < w.length; j++) if (w[j]! < tau) w[j] = 0;
}
