import type { GraphBuilder } from "@densessm/core";

const memos = new WeakMap<GraphBuilder, Map<string, unknown>>();

/**
 * `make()` once per graph and key. A retention decomposition's decay constants depend only on the
 * decays and the length, which every layer shares, but `GraphBuilder.constant` adds a node per
 * call: memoising per builder gives all layers one constant (one [H, L, L] mask, not one a layer).
 */
export function oncePerGraph<T>(builder: GraphBuilder, key: string, make: () => T): T {
  let memo = memos.get(builder);
  if (!memo) {
    memo = new Map();
    memos.set(builder, memo);
  }
  if (!memo.has(key)) memo.set(key, make());
  return memo.get(key) as T;
}
