import { DenseSSMError } from "@densessm/core";

/** Seeds are uint32 (the generators' whole state): anything else would silently wrap, so it is refused. */
export function checkSeed(seed: number, what: string): void {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new DenseSSMError(`${what} must be an integer from 0 to 4294967295, got ${seed}`);
}
