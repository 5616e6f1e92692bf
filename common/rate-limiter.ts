/**
 * A token bucket per key (a peer id): `perSecond` on average, bursts up to `burst`. In memory and
 * bounded; takes a clock so tests drive time instead of sleeping. Used by the rendezvous (requests
 * per peer) and by peers (incoming messages per sender).
 */
import { ErrorCode, ParleyError, is } from './errors.ts'

const DEFAULT_MAX_KEYS = 100_000

/** What take() refuses with. The sign-in throttle and the epoch rules refuse with the same code
 * for reasons that waiting a moment does not cure; this message is how a client tells them apart. */
export const RATE_REFUSAL = 'too many requests, slow down'

/** Refused by a token bucket (take()): the request was not looked at, and may be made again. */
export function refusedByRate (err: unknown): boolean {
  return is(err, ErrorCode.RateLimited) && (err as Error).message === RATE_REFUSAL
}

export type Clock = () => number

export interface RateLimiterOptions {
  perSecond: number
  burst: number
  /** Keys remembered at most (least recently used go first), so memory stays bounded. */
  maxKeys?: number
  now?: Clock
}

interface Bucket {
  tokens: number
  updated: number
}

export class RateLimiter {
  readonly #buckets = new Map<string, Bucket>()
  readonly #perSecond: number
  readonly #burst: number
  readonly #maxKeys: number
  readonly #now: Clock

  constructor (options: RateLimiterOptions) {
    this.#perSecond = options.perSecond
    this.#burst = options.burst
    this.#maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS
    this.#now = options.now ?? Date.now
  }

  /** Take one token for `key`, or throw ERR_RATE_LIMITED. */
  take (key: string): void {
    const bucket = this.#refill(key)
    if (bucket.tokens < 1) throw new ParleyError(ErrorCode.RateLimited, RATE_REFUSAL)
    bucket.tokens -= 1
  }

  /**
   * Take one token for `key` on credit: how many milliseconds the caller must wait before
   * acting on it (0 while the bucket has tokens). For backpressure: a reader that waits this
   * long before its next read slows the sender to the rate instead of refusing it (issue 11).
   */
  delay (key: string): number {
    const bucket = this.#refill(key)
    bucket.tokens -= 1
    return bucket.tokens >= 0 ? 0 : Math.ceil(-bucket.tokens * 1000 / this.#perSecond)
  }

  #refill (key: string): Bucket {
    const now = this.#now()
    const bucket = this.#buckets.get(key) ?? { tokens: this.#burst, updated: now }
    bucket.tokens = Math.min(this.#burst, bucket.tokens + (now - bucket.updated) * this.#perSecond / 1000)
    bucket.updated = now
    this.#buckets.delete(key)
    this.#buckets.set(key, bucket)
    this.#trim()
    return bucket
  }

  /** Forget a peer that disconnected, but only once its bucket has refilled: reconnecting must
   * not be a way to get a fresh burst. */
  forget (key: string): void {
    const bucket = this.#buckets.get(key)
    if (bucket === undefined) return
    const tokens = bucket.tokens + (this.#now() - bucket.updated) * this.#perSecond / 1000
    if (tokens >= this.#burst) this.#buckets.delete(key)
  }

  #trim (): void {
    while (this.#buckets.size > this.#maxKeys) {
      const oldest = this.#buckets.keys().next().value
      if (oldest === undefined) break
      this.#buckets.delete(oldest)
    }
  }
}
