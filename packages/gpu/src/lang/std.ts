import { stridesOf } from "@densessm/core";
import type { KernelBuilder, Memory } from "./builder.js";
import { call, f32, i32, select, u32, type Numeric, Val } from "./values.js";

// Building blocks kernels share, written in the kernel language itself: index maps, workgroup
// reductions, accurate sin/cos, and exact float16/bfloat16 rounding.

/** The largest workgroup count in one dispatch dimension (WebGPU's guaranteed minimum). */
export const MAX_GROUPS = 65535;

/**
 * The flat index of a one-invocation-per-element kernel whose dispatch is folded into y when x
 * would exceed MAX_GROUPS (see `grid`).
 */
export function elementIndex(k: KernelBuilder): Val<"u32"> {
  return k.let("i", k.globalId.x.add(k.globalId.y.mul(k.numGroups.x).mul(k.size[0])));
}

/** The flat workgroup index of a one-workgroup-per-item kernel dispatched with `grid`. */
export function groupIndex(k: KernelBuilder): Val<"u32"> {
  return k.let("item", k.groupId.x.add(k.groupId.y.mul(k.numGroups.x)));
}

/** Ends invocations whose index is past `n`. */
export function guard(k: KernelBuilder, i: Val<"u32">, n: number): void {
  k.if(i.ge(n), () => k.return());
}

/**
 * `base + Σ_d coord_d(index) * strides[d]` for a row-major `index` over `shape`: the source offset
 * of a strided view (permute, slice, broadcast). Axes of size 1 and stride 0 cost nothing.
 */
export function offsetOf(k: KernelBuilder, name: string, index: Val<"u32">, shape: readonly number[], strides: readonly number[], base = 0): Val<"u32"> {
  const terms: Val<"u32">[] = [];
  let rest = index;
  const outermost = shape.findIndex((s) => s !== 1);
  // Axes further out that still add a term (no division is computed past the last one).
  const needed = (d: number) => shape.some((size, e) => e < d && size !== 1 && strides[e] !== 0);
  for (let d = shape.length - 1; d >= 0; d--) {
    const size = shape[d]!;
    if (size === 1) continue;
    if (strides[d] !== 0) {
      // The outermost axis needs no remainder: the index is below the shape's size.
      const coord = d === outermost ? rest : rest.rem(size);
      terms.push(strides[d] === 1 ? coord : coord.mul(strides[d]!));
    }
    if (!needed(d)) break;
    rest = k.let(`${name}_r`, rest.div(size));
  }
  if (base !== 0 || !terms.length) terms.push(u32(base));
  return k.let(name, terms.reduce((a, b) => a.add(b)));
}

/** Strides with which a tensor of `shape` is read when broadcast to `outShape` (0 on broadcast axes). */
export function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const lead = outShape.length - shape.length;
  const src = stridesOf(shape);
  return outShape.map((_, i) => (i < lead || shape[i - lead] === 1 ? 0 : src[i - lead]!));
}

export type Combine<T extends Numeric> = (a: Val<T>, b: Val<T>) => Val<T>;
export const sumOf = <T extends Numeric>(a: Val<T>, b: Val<T>): Val<T> => a.add(b);
export const maxOf = <T extends Numeric>(a: Val<T>, b: Val<T>): Val<T> => a.max(b);

/**
 * A tree reduction over `size` (a power of two) invocations' values already in workgroup memory
 * `part`, ending with `part[0]` holding the result (and a barrier).
 */
export function treeReduce<T extends Numeric>(k: KernelBuilder, part: Memory<T>, size: number, combine: Combine<T>, tid: Val<"u32"> = k.localIndex): void {
  for (let s = size / 2; s >= 1; s /= 2) {
    k.if(tid.lt(s), () => part.set(tid, combine(part.at(tid), part.at(tid.add(s)))));
    k.barrier();
  }
}

/**
 * A workgroup's reduction of one row: invocation `tid` folds `value(j)` over j = tid, tid + size,
 * ... < length, the partials meet in a tree in `part`, and every invocation gets the result.
 * Ends with a barrier, so `part` can be reused right after.
 */
export function rowReduce<T extends Numeric>(
  k: KernelBuilder,
  name: string,
  options: { length: number | Val<"u32">; value: (j: Val<"u32">) => Val<T>; init: Val<T>; combine: Combine<T>; part: Memory<T> },
): Val<T> {
  const { length, value, init, combine, part } = options;
  const size = k.threads;
  const tid = k.localIndex;
  const acc = k.var(`${name}_acc`, init);
  k.range("j", tid, length, (j) => acc.set(combine(acc, value(j))), size);
  part.set(tid, acc);
  k.barrier();
  treeReduce(k, part, size, combine, tid);
  const result = k.let(name, part.at(0));
  k.barrier();
  return result;
}

/**
 * sin or cos to float32 accuracy (`quadrant` 0 or 1). The targets' built-ins do not promise it
 * (WGSL allows 2^-11 absolute error; SwiftShader is off by 1e-4), too coarse for rotary angles:
 * this is Cephes' sinf/cosf, a three-part Cody-Waite reduction by pi/2 and minimax polynomials.
 */
export function sinCos(k: KernelBuilder, x: Val<"f32">, quadrant: 0 | 1): Val<"f32"> {
  const j = k.let("sc_j", call<"f32">("round", [x.mul(0.63661977236758134)]));
  const r = k.let("sc_r", x.sub(j.mul(1.5703125)).sub(j.mul(4.837512969970703125e-4)).sub(j.mul(7.54978995489188216e-8)));
  const z = k.let("sc_z", r.mul(r));
  const s = k.let("sc_s", f32(-1.9515295891e-4).mul(z).add(8.3321608736e-3).mul(z).sub(1.6666654611e-1).mul(z).mul(r).add(r));
  const c = k.let("sc_c", f32(2.443315711809948e-5).mul(z).sub(1.388731625493765e-3).mul(z).add(4.166664568298827e-2).mul(z).mul(z).sub(z.mul(0.5)).add(1));
  const q = k.let("sc_q", j.i32().add(quadrant).and(3));
  return k.let("sc", select(q.eq(0), s, select(q.eq(1), c, select(q.eq(2), s.neg(), c.neg()))));
}

/** The float32 value of float16 bits `h` (u32 holding 16 bits). */
export function halfBitsToFloat(k: KernelBuilder, h: Val<"u32">): Val<"f32"> {
  const sign = k.let("hb_sign", select(h.and(0x8000).ne(0), f32(-1), f32(1)));
  const e = k.let("hb_e", h.shr(10).and(0x1f));
  const m = k.let("hb_m", h.and(0x3ff));
  const out = k.var("hb", m.f32().mul(sign).mul(5.9604644775390625e-8));
  k.if(e.eq(0x1f), () => {
    const nan = u32(0x7fc00000).bitcast("f32");
    out.set(select(m.ne(0), nan, select(h.and(0x8000).ne(0), u32(0xff800000).bitcast("f32"), u32(0x7f800000).bitcast("f32"))));
  }, () => k.if(e.ne(0), () => out.set(h.and(0x8000).shl(16).or(e.add(112).shl(23)).or(m.shl(13)).bitcast("f32"))));
  return out;
}

/** `v` rounded to the nearest float16 (ties to even), as an f32: bit for bit core's conversion. */
export function roundToHalf(k: KernelBuilder, v: Val<"f32">): Val<"f32"> {
  const x = k.let("rh_x", v.bitcast("u32"));
  const sign = k.let("rh_sign", x.shr(16).and(0x8000));
  const e8 = k.let("rh_e8", x.shr(23).and(0xff));
  const mant = k.let("rh_mant", x.and(0x7fffff));
  const h = k.var("rh", "u32", 0);
  const roundAt = (value: Val<"u32">, shift: Val<"u32"> | number): Val<"u32"> => {
    const half = k.let("rh_half", u32(1).shl(toU32(shift).sub(1)));
    const rest = k.let("rh_rest", value.and(u32(1).shl(shift).sub(1)));
    const q = k.var("rh_q", value.shr(shift));
    k.if(rest.gt(half).or(rest.eq(half).and(q.and(1).ne(0))), () => q.set(q.add(1)));
    return q;
  };
  k.if(
    e8.eq(0xff),
    () => h.set(sign.or(0x7c00).or(select(mant.ne(0), u32(0x200).or(mant.shr(13)), u32(0)))),
    () => {
      const e = k.let("rh_e", e8.i32().sub(127 - 15));
      k.if(
        e.ge(0x1f),
        () => h.set(sign.or(0x7c00)),
        () =>
          k.if(
            e.le(0),
            () => k.if(e.lt(-10), () => h.set(sign), () => h.set(sign.or(roundAt(mant.or(0x800000), i32(14).sub(e).u32())))),
            // Rounding may carry into the exponent: that is the correct result.
            () => h.set(sign.or(roundAt(e.u32().shl(23).or(mant), 13))),
          ),
      );
    },
  );
  return halfBitsToFloat(k, h);
}

const toU32 = (v: Val<"u32"> | number): Val<"u32"> => (v instanceof Val ? v : u32(v));

/** `v` rounded to the nearest bfloat16 (ties to even; NaN stays a quiet NaN), as an f32. */
export function roundToBFloat16(k: KernelBuilder, v: Val<"f32">): Val<"f32"> {
  const x = k.let("rb_x", v.bitcast("u32"));
  const nan = x.and(0x7f800000).eq(0x7f800000).and(x.and(0x7fffff).ne(0));
  const rounded = x.add(0x7fff).add(x.shr(16).and(1));
  return k.let("rb", select(nan, x.shr(16).or(0x40).shl(16), rounded.shr(16).shl(16)).bitcast("f32"));
}
