import { Tensor } from "../tensor/tensor.js";

// Assembling host logits from the pieces a chunked or token-by-token run produces.

/** Logits [B, V] of the last position of [B, L, V]. */
export function lastPosition(logits: Tensor): Tensor {
  const [b, l, v] = logits.shape as [number, number, number];
  if (l === 1) return logits.reshape([b, v]);
  const src = logits.toFloat32();
  const out = new Float32Array(b * v);
  for (let i = 0; i < b; i++) out.set(src.subarray((i * l + l - 1) * v, (i * l + l) * v), i * v);
  return new Tensor(out, [b, v], "float32");
}

/** Concatenates [B, T_i, V] tensors along T. */
export function concatPositions(parts: readonly Tensor[]): Tensor {
  if (parts.length === 1) return parts[0]!;
  const [batch, , vocab] = parts[0]!.shape as [number, number, number];
  const total = parts.reduce((n, p) => n + p.shape[1]!, 0);
  const out = new Float32Array(batch * total * vocab);
  let offset = 0;
  for (const p of parts) {
    const t = p.shape[1]!;
    const src = p.toFloat32();
    for (let b = 0; b < batch; b++) out.set(src.subarray(b * t * vocab, (b + 1) * t * vocab), (b * total + offset) * vocab);
    offset += t;
  }
  return new Tensor(out, [batch, total, vocab], "float32");
}
