/**
 * Throttled warnings for inbound refusals (issue 12: peers without an account made 482 warnings
 * in 8 s). What a flood of fresh peer ids causes (no such user, rate limited) is shown at most 3
 * times a minute for the same text and 10 times a minute in all, however many senders cause it.
 * Other refusals (bad frames, forged fields) come from registered senders, whose streams are
 * already limited per sender, and each is evidence of an attack by someone the user knows: the
 * same one is shown up to 30 times a minute; a changed identity's, once; a full disk, once in all. The next warning shown says how many were left out.
 * Bounded memory; takes a clock so tests drive time.
 */
import { ErrorCode } from '../common/errors.ts'
import type { Clock } from '../common/rate-limiter.ts'

const WINDOW_MS = 60_000
/** The same warning shown per window: flood codes, and the others. */
export const SAME_PER_WINDOW = 3
export const SAME_OTHER_PER_WINDOW = 30
/** Warnings of a flood code shown per window, from all senders together. */
export const FLOOD_PER_WINDOW = 10
/** What peers with no account, or too many of them, cause. */
const FLOOD_CODES = new Set<string>([ErrorCode.NotFound, ErrorCode.RateLimited])
/** A contact whose identity changed: the directory has said so, with what to do (VERIFY, TRUST),
 * and each of its retries is refused again; once a minute is reminder enough (7 in 30 s, until
 * 2026-12-06). */
const REMINDER_CODES = new Set<string>([ErrorCode.IdentityChanged])
/** A condition of this peer's own (its disk is full), whoever sends and whatever the file: once
 * a minute in all (round 11: three a quarter-minute from one sender, the file's and the store's). */
const OWN_CODES = new Set<string>([ErrorCode.NoSpace])
const MAX_REMEMBERED = 10_000

export class WarningThrottle {
  readonly #same = new Map<string, { start: number, shown: number }>()
  readonly #perCode = new Map<string, { start: number, shown: number, hidden: number }>()
  readonly #now: Clock

  constructor (now: Clock = Date.now) {
    this.#now = now
  }

  /**
   * Whether to show a warning now: undefined to leave it out, else the text to show (with a
   * note of how many of its code were left out since the last one shown). `own`: a condition of
   * this peer's own, whatever its code (a downloads folder that cannot be written to): once a
   * minute in all.
   */
  admit (code: string, message: string, own = OWN_CODES.has(code)): string | undefined {
    const now = this.#now()
    const key = `${code}\u0000${message}`
    let same = this.#same.get(key)
    if (same === undefined || now - same.start >= WINDOW_MS) {
      if (this.#same.size >= MAX_REMEMBERED) this.#same.clear()
      same = { start: now, shown: 0 }
      this.#same.set(key, same)
    }
    let counter = this.#perCode.get(code)
    if (counter === undefined || now - counter.start >= WINDOW_MS) {
      counter = { start: now, shown: 0, hidden: counter?.hidden ?? 0 }
      this.#perCode.set(code, counter)
    }
    const flood = FLOOD_CODES.has(code)
    const sameLimit = flood ? SAME_PER_WINDOW : REMINDER_CODES.has(code) ? 1 : SAME_OTHER_PER_WINDOW
    if (same.shown >= sameLimit || (flood && counter.shown >= FLOOD_PER_WINDOW) || (own && counter.shown >= 1)) {
      counter.hidden++
      return undefined
    }
    same.shown++
    counter.shown++
    const hidden = counter.hidden
    counter.hidden = 0
    return hidden === 0 ? message : `${message} (${hidden} similar warning${hidden === 1 ? '' : 's'} not shown)`
  }
}
