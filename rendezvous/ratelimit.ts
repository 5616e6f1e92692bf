/**
 * Two limiters, both in memory and bounded:
 * - SignInThrottle: failed sign-ins slowed per username and per remote peer (DESIGN §3). A few
 *   failures are free; after that each further attempt waits an exponentially growing delay.
 * - RequestLimiter: a token bucket per peer (common/rate-limiter.ts) with the server's rates, so
 *   one peer cannot flood the server.
 * Both take a clock, so tests drive time instead of sleeping.
 */
import { ErrorCode, ParleyError } from '../common/errors.ts'
import { RateLimiter } from '../common/rate-limiter.ts'
import type { Clock, RateLimiterOptions } from '../common/rate-limiter.ts'
import {
  MAX_TRACKED_KEYS, REQUEST_BURST, REQUESTS_PER_SECOND, SIGNIN_BACKOFF_BASE_MS, SIGNIN_BACKOFF_MAX_MS,
  SIGNIN_FREE_FAILURES, SIGNIN_WINDOW_MS
} from './constants.ts'

export type { Clock } from '../common/rate-limiter.ts'

export interface ThrottleOptions {
  freeFailures?: number
  windowMs?: number
  backoffBaseMs?: number
  backoffMaxMs?: number
  maxKeys?: number
  now?: Clock
}

interface Failures {
  count: number
  last: number
}

export class SignInThrottle {
  readonly #failures = new Map<string, Failures>()
  readonly #free: number
  readonly #window: number
  readonly #base: number
  readonly #max: number
  readonly #maxKeys: number
  readonly #now: Clock

  constructor (options: ThrottleOptions = {}) {
    this.#free = options.freeFailures ?? SIGNIN_FREE_FAILURES
    this.#window = options.windowMs ?? SIGNIN_WINDOW_MS
    this.#base = options.backoffBaseMs ?? SIGNIN_BACKOFF_BASE_MS
    this.#max = options.backoffMaxMs ?? SIGNIN_BACKOFF_MAX_MS
    this.#maxKeys = options.maxKeys ?? MAX_TRACKED_KEYS
    this.#now = options.now ?? Date.now
  }

  /** Milliseconds until `keys` may try again (0 = now): the longest wait of any of them. */
  waitFor (keys: string[]): number {
    const now = this.#now()
    let wait = 0
    for (const key of keys) {
      const entry = this.#current(key, now)
      if (entry === undefined || entry.count < this.#free) continue
      const delay = Math.min(this.#base * 2 ** (entry.count - this.#free), this.#max)
      wait = Math.max(wait, entry.last + delay - now)
    }
    return Math.max(0, wait)
  }

  /** Throws ERR_RATE_LIMITED if any of `keys` is in its backoff. */
  check (keys: string[]): void {
    const wait = this.waitFor(keys)
    if (wait > 0) {
      throw new ParleyError(ErrorCode.RateLimited, `too many attempts, try again in ${Math.ceil(wait / 1000)} s`)
    }
  }

  fail (keys: string[]): void {
    const now = this.#now()
    for (const key of keys) {
      const entry = this.#current(key, now)
      this.#failures.delete(key) // re-insert: the Map's order is then least recently failed first
      this.#failures.set(key, { count: (entry?.count ?? 0) + 1, last: now })
    }
    while (this.#failures.size > this.#maxKeys) {
      const oldest = this.#failures.keys().next().value
      if (oldest === undefined) break
      this.#failures.delete(oldest)
    }
  }

  reset (key: string): void {
    this.#failures.delete(key)
  }

  #current (key: string, now: number): Failures | undefined {
    const entry = this.#failures.get(key)
    if (entry !== undefined && now - entry.last > this.#window) {
      this.#failures.delete(key)
      return undefined
    }
    return entry
  }
}

/** Requests per peer: the server's rates unless a test gives its own. */
export class RequestLimiter extends RateLimiter {
  constructor (options: Partial<RateLimiterOptions> = {}) {
    super({ perSecond: REQUESTS_PER_SECOND, burst: REQUEST_BURST, maxKeys: MAX_TRACKED_KEYS, ...options })
  }
}
