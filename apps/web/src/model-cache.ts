// Downloaded model files live in the Cache API, so a second visit loads the model without the
// network (the service worker in public/sw.js keeps the page itself). Responses are stored as the
// server sent them, 404s included: a loader probes for optional files (a shard index, tokenizer
// configs), and offline those answers must be known too.

const CACHE_NAME = "densessm-models-v1";

/** What a cachingFetch did: the URLs it answered from the cache, and its writes still under way. */
export interface CacheRecord {
  readonly hits: Set<string>;
  readonly writes: Promise<unknown>[];
}

const available = (): boolean => typeof caches !== "undefined";

/**
 * A fetch for `urlSource` that answers from the cache when it can and stores what it downloads
 * (the copy is written while the loader streams the original, so progress stays live). Without
 * the Cache API (an insecure context) it is the plain fetch.
 */
export function cachingFetch(record: CacheRecord): typeof fetch {
  return async (input, init) => {
    if (!available()) return fetch(input, init);
    const url = new Request(input).url;
    const cache = await caches.open(CACHE_NAME);
    const hit = await cache.match(url);
    if (hit) {
      record.hits.add(url);
      return hit;
    }
    const response = await fetch(input, init);
    if (response.ok || response.status === 404) {
      // A download that fails or is aborted half-way leaves no entry behind.
      record.writes.push(cache.put(url, response.clone()).catch(() => undefined));
    }
    return response;
  };
}

/** Deletes every cached model file; returns how many there were. */
export async function clearModelCache(): Promise<number> {
  if (!available()) return 0;
  const cache = await caches.open(CACHE_NAME);
  const count = (await cache.keys()).length;
  await caches.delete(CACHE_NAME);
  return count;
}
