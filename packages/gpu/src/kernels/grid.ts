import { numel, type DType, type Shape } from "@densessm/core";
import { MAX_GROUPS } from "../lang/std.js";

/** Threads per workgroup of the one-invocation-per-element kernels. */
export const WG = 64;

/** Workgroup counts covering `groups` workgroups, folded into y when x would overflow. */
export function grid(groups: number): [number, number, number] {
  if (groups <= MAX_GROUPS) return [Math.max(groups, 1), 1, 1];
  return [MAX_GROUPS, Math.ceil(groups / MAX_GROUPS), 1];
}

/** Workgroups for one invocation per element. */
export const elementGrid = (n: number): [number, number, number] => grid(Math.ceil(n / WG));

/** Splits a shape around `axis` into [outer, size, inner] element counts. */
export function aroundAxis(shape: Shape, axis: number): [number, number, number] {
  return [numel(shape.slice(0, axis)), shape[axis]!, numel(shape.slice(axis + 1))];
}

/** int8 and uint8 live as raw bytes, four to a u32 word; only the byte-aware kernels read them (quant.ts). */
export const isBytes = (dtype: DType): boolean => dtype === "int8" || dtype === "uint8";

/** Every other dtype lives in 32-bit words: int32 as i32, the float formats widened to f32. */
export const wordType = (dtype: DType): "i32" | "f32" => (dtype === "int32" ? "i32" : "f32");
