/**
 * A Map kept to its latest entries: a Map keeps its keys in the order they were set, so the first
 * is the one set longest ago. One piece of code for the caches and notes kept per name or peer.
 */

/** Set `key` to `value` as the latest entry of `map`, then drop the oldest past `max`. */
export function keepLatest<K, V> (map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key)
  map.set(key, value)
  for (const oldest of map.keys()) {
    if (map.size <= max) break
    map.delete(oldest)
  }
}
