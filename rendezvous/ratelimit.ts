/**
 * Two limiters, both in memory and bounded:
 * - SignInThrottle: failed sign-ins slowed (DESIGN §3, issue 12 item 4) without ever locking the
 *   right password out of the account's own device or of a network that has not been failing.
 * - RequestLimiter: a token bucket per peer (common/rate-limiter.ts) with the server's rates, so
 *   one peer cannot flood the server.
 * Both take a clock, so tests drive time instead of sleeping.
 *
 * The sign-in policy. A *source* is the caller's network: its IPv4 /24 or IPv6 /64 (peer ids are
 * free to make, so they count for nothing). An attempt is *trusted* when it comes from the peer
 * id the account is bound to: Noise proves the caller holds that identity key, which only the
 * owner's device has (it rests wrapped under the owner's wrapKey) — OWASP's "device cookie".
 * - A trusted attempt is slowed only by the failures of that same device (free 5, then backoff).
 *   Nothing other machines do can lock the owner's own device out.
 * - An untrusted attempt is refused (ERR_RATE_LIMITED, before the password is even compared, so
 *   a refusal says nothing about the guess) while
 *   - its (username, source) pair is in backoff (free 5, then 2 s doubling to 15 min), or
 *   - its source is in backoff across all usernames (free 10, then the same backoff), or
 *   - the source has failed at all in the window *and* either the username is under attack (10
 *     untrusted failures in the window, from anywhere) or the global failed-sign-in budget (1,000
 *     an hour) is spent. A *clean* source — no failure in the window — always gets its attempt:
 *     the owner on a new machine on a network that is not guessing signs in during an attack,
 *     and each attacking network gets one guess per window once the name is under attack.
 * Counts are forgotten only after a whole window (24 h) without a failure, so the longest backoff
 * (15 min) never outlasts its count. A success clears that device's or that (username, source)
 * pair's count, never the source's or the username's (an attacker sharing a NAT with the owner
 * gains nothing from the owner's sign-in).
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net'
import { CODE_IP4, CODE_IP6 } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import { ErrorCode, ParleyError } from '../common/errors.ts'
import { RateLimiter } from '../common/rate-limiter.ts'
import type { Clock, RateLimiterOptions } from '../common/rate-limiter.ts'
import {
  MAX_TRACKED_KEYS, REQUEST_BURST, REQUESTS_PER_SECOND, SIGNIN_BACKOFF_BASE_MS, SIGNIN_BACKOFF_MAX_MS,
  SIGNIN_FREE_FAILURES, SIGNIN_GLOBAL_FAILURES_PER_HOUR, SIGNIN_SOURCE_FREE_FAILURES, SIGNIN_USER_UNDER_ATTACK,
  SIGNIN_WINDOW_MS
} from './constants.ts'

export type { Clock } from '../common/rate-limiter.ts'

export interface ThrottleOptions {
  /** Free failures per device and per (username, source) pair. */
  freeFailures?: number
  /** Free failures per source, across usernames. */
  sourceFreeFailures?: number
  /** Untrusted failures of one username in the window that put it "under attack". */
  userUnderAttack?: number
  /** Failed sign-ins per hour, server-wide, before only clean sources may try. */
  globalFailuresPerHour?: number
  windowMs?: number
  backoffBaseMs?: number
  backoffMaxMs?: number
  maxKeys?: number
  now?: Clock
}

/** One sign-in attempt as the throttle sees it. */
export interface Attempt {
  username: string
  peerId: string
  /** `sourceOf(remoteAddr)`. */
  source: string
  /** The caller is the peer id the account is bound to. */
  trusted: boolean
}

interface Failures {
  count: number
  last: number
}

/** The network a connection comes from: IPv4 /24, IPv6 /64 (IPv4-mapped IPv6 as IPv4), else
 * the address itself. */
export function sourceOf (remoteAddr: Multiaddr | undefined): string {
  if (remoteAddr === undefined) return 'unknown'
  const first = remoteAddr.getComponents()[0]
  const value = first?.value
  if (first === undefined || value === undefined) return remoteAddr.toString()
  if (first.code === CODE_IP4) return ip4Prefix(value) ?? value
  if (first.code === CODE_IP6) {
    const groups = expandIp6(value)
    if (groups === undefined) return value
    if (groups.slice(0, 5).every(g => g === '0') && groups[5] === 'ffff') {
      const [hi = 0, lo = 0] = groups.slice(6).map(g => parseInt(g, 16))
      return `${hi >> 8}.${hi & 255}.${lo >> 8}.0/24`
    }
    return `${groups.slice(0, 4).join(':')}::/64`
  }
  return remoteAddr.toString()
}

/** This machine's addresses: 127.0.0.0/8, ::1, and IPv4-mapped loopback (node's BlockList
 * parses and matches them). */
const LOOPBACK = new BlockList()
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4')
LOOPBACK.addAddress('::1', 'ipv6')
LOOPBACK.addSubnet('::ffff:127.0.0.0', 104, 'ipv6')

/** Whether a connection comes from this machine. */
export function isLoopback (remoteAddr: Multiaddr | undefined): boolean {
  const first = remoteAddr?.getComponents()[0]
  const value = first?.value
  if (first === undefined || value === undefined) return false
  if (first.code === CODE_IP4) return isIPv4(value) && LOOPBACK.check(value, 'ipv4')
  return first.code === CODE_IP6 && isIPv6(value) && LOOPBACK.check(value, 'ipv6')
}

function ip4Prefix (ip: string): string | undefined {
  const parts = ip.split('.')
  if (parts.length !== 4) return undefined
  return `${parts.slice(0, 3).join('.')}.0/24`
}

/** The eight 16-bit groups of an IPv6 address, lower-case without leading zeros. */
function expandIp6 (ip: string): string[] | undefined {
  // A trailing dotted quad (::ffff:1.2.3.4) is two groups.
  const text = ip.toLowerCase().replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_all, a: string, b: string, c: string, d: string) =>
    `${((Number(a) << 8) | Number(b)).toString(16)}:${((Number(c) << 8) | Number(d)).toString(16)}`)
  const [head = '', tail, extra] = text.split('::')
  if (extra !== undefined) return undefined
  const split = (part: string): string[] => part === '' ? [] : part.split(':')
  const left = split(head)
  const right = tail === undefined ? [] : split(tail)
  const missing = 8 - left.length - right.length
  if (missing < 0 || (tail === undefined && missing !== 0)) return undefined
  const groups = [...left, ...Array<string>(missing).fill('0'), ...right]
  if (!groups.every(g => /^[0-9a-f]{1,4}$/.test(g))) return undefined
  return groups.map(g => g.replace(/^0+(?=.)/, ''))
}

/** Failure counts with exponential backoff, forgotten after a window without failures. */
class Backoff {
  readonly #failures = new Map<string, Failures>()
  readonly #window: number
  readonly #base: number
  readonly #max: number
  readonly #maxKeys: number

  constructor (window: number, base: number, max: number, maxKeys: number) {
    this.#window = window
    this.#base = base
    this.#max = max
    this.#maxKeys = maxKeys
  }

  count (key: string, now: number): number {
    return this.#current(key, now)?.count ?? 0
  }

  last (key: string, now: number): number | undefined {
    return this.#current(key, now)?.last
  }

  /** Milliseconds until `key` may try again, `free` failures being free. */
  wait (key: string, free: number, now: number): number {
    const entry = this.#current(key, now)
    if (entry === undefined || entry.count < free) return 0
    const delay = Math.min(this.#base * 2 ** Math.min(entry.count - free, 40), this.#max)
    return Math.max(0, entry.last + delay - now)
  }

  fail (key: string, now: number): void {
    const entry = this.#current(key, now)
    this.#failures.delete(key) // re-insert: the Map's order is then least recently failed first
    this.#failures.set(key, { count: (entry?.count ?? 0) + 1, last: now })
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

/** Failures in the last hour, server-wide, in one-minute buckets. */
class HourlyCount {
  readonly #buckets = new Map<number, number>()

  add (now: number): void {
    const minute = Math.floor(now / 60_000)
    this.#buckets.set(minute, (this.#buckets.get(minute) ?? 0) + 1)
    for (const key of this.#buckets.keys()) if (key <= minute - 60) this.#buckets.delete(key)
  }

  total (now: number): number {
    const minute = Math.floor(now / 60_000)
    let sum = 0
    for (const [key, count] of this.#buckets) if (key > minute - 60) sum += count
    return sum
  }
}

const deviceKey = (a: Attempt): string => `device\u0000${a.username}\u0000${a.peerId}`
const pairKey = (a: Attempt): string => `pair\u0000${a.username}\u0000${a.source}`
const sourceKey = (a: Attempt): string => `source\u0000${a.source}`
const userKey = (a: Attempt): string => `user\u0000${a.username}`
/** Failures from other devices since the account's last sign-in: told then (`succeed`). */
const untoldKey = (a: Attempt): string => `untold\u0000${a.username}`

export class SignInThrottle {
  readonly #table: Backoff
  readonly #global = new HourlyCount()
  readonly #free: number
  readonly #sourceFree: number
  readonly #underAttack: number
  readonly #globalBudget: number
  readonly #window: number
  readonly #now: Clock

  constructor (options: ThrottleOptions = {}) {
    this.#free = options.freeFailures ?? SIGNIN_FREE_FAILURES
    this.#sourceFree = options.sourceFreeFailures ?? SIGNIN_SOURCE_FREE_FAILURES
    this.#underAttack = options.userUnderAttack ?? SIGNIN_USER_UNDER_ATTACK
    this.#globalBudget = options.globalFailuresPerHour ?? SIGNIN_GLOBAL_FAILURES_PER_HOUR
    this.#window = options.windowMs ?? SIGNIN_WINDOW_MS
    this.#table = new Backoff(this.#window, options.backoffBaseMs ?? SIGNIN_BACKOFF_BASE_MS,
      options.backoffMaxMs ?? SIGNIN_BACKOFF_MAX_MS, options.maxKeys ?? MAX_TRACKED_KEYS)
    this.#now = options.now ?? Date.now
  }

  /** Milliseconds until this attempt may be made (0 = now). */
  waitFor (attempt: Attempt): number {
    const now = this.#now()
    if (attempt.trusted) return this.#table.wait(deviceKey(attempt), this.#free, now)
    const wait = Math.max(this.#table.wait(pairKey(attempt), this.#free, now),
      this.#table.wait(sourceKey(attempt), this.#sourceFree, now))
    if (wait > 0) return wait
    const sourceLast = this.#table.last(sourceKey(attempt), now)
    if (sourceLast === undefined) return 0 // a clean source always gets its attempt
    const attacked = this.#table.count(userKey(attempt), now) >= this.#underAttack
    const overBudget = this.#global.total(now) >= this.#globalBudget
    // Until the source is clean again (a window after its last failure).
    return attacked || overBudget ? Math.max(1, sourceLast + this.#window - now) : 0
  }

  /** Throws ERR_RATE_LIMITED if this attempt must wait. */
  check (attempt: Attempt): void {
    const wait = this.waitFor(attempt)
    if (wait > 0) {
      throw new ParleyError(ErrorCode.RateLimited, `too many attempts, try again in ${Math.ceil(wait / 1000)} s`)
    }
  }

  fail (attempt: Attempt): void {
    const now = this.#now()
    this.#global.add(now)
    if (attempt.trusted) {
      this.#table.fail(deviceKey(attempt), now)
      return
    }
    for (const key of [pairKey(attempt), sourceKey(attempt), userKey(attempt), untoldKey(attempt)]) this.#table.fail(key, now)
  }

  /**
   * The right password: that device's or that (username, source) pair's count starts again.
   * Returns how many sign-ins to the account from other devices failed since its last sign-in
   * (within the window after the last of them), to be told to its owner now (round 40: 20 wrong
   * guesses, and the owner never heard of them); the owner's own device's typos are not among them.
   */
  succeed (attempt: Attempt): number {
    const now = this.#now()
    this.#table.reset(attempt.trusted ? deviceKey(attempt) : pairKey(attempt))
    const untold = this.#table.count(untoldKey(attempt), now)
    this.#table.reset(untoldKey(attempt))
    return untold
  }

  /** Failed sign-ins in the last hour, server-wide. */
  globalFailures (): number {
    return this.#global.total(this.#now())
  }
}

/** Requests per peer: the server's rates unless a test gives its own. */
export class RequestLimiter extends RateLimiter {
  constructor (options: Partial<RateLimiterOptions> = {}) {
    super({ perSecond: REQUESTS_PER_SECOND, burst: REQUEST_BURST, maxKeys: MAX_TRACKED_KEYS, ...options })
  }
}
