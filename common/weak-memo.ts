/**
 * A value worked out once per object and forgotten with it: `get(key)` makes it on first asking
 * and keeps it in a WeakMap, so the object being collected drops it too.
 */
export class WeakMemo<K extends object, V> {
  readonly #values = new WeakMap<K, V>()
  readonly #make: (key: K) => V

  constructor (make: (key: K) => V) {
    this.#make = make
  }

  get (key: K): V {
    let value = this.#values.get(key)
    if (value === undefined) {
      value = this.#make(key)
      this.#values.set(key, value)
    }
    return value
  }
}
