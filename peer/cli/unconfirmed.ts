/**
 * Texts that went out and are not confirmed, for a person. A text's `sent` (its bytes went out)
 * has no line of its own: its `delivered` follows within milliseconds. But when the recipient's
 * device stops answering without a word (its process frozen, its network gone), `queued` comes
 * only when the wait for the ACK ends, 30 s later, and until 2026-12-06 nothing was said
 * meanwhile (a tester's finding). Now, once a text has waited UNCONFIRMED_MS, one line per
 * recipient says how many wait; each text is counted in one such line at most.
 */

/** Far longer than an ACK takes from a device that answers (milliseconds, a second or two
 * under load), far shorter than the 30 s before the outbox gives the session up. */
export const UNCONFIRMED_MS = 5_000
/** How often waiting texts are looked at while there are any. */
const CHECK_MS = 1_000

interface Waiting {
  sentAt: number
  /** Its group (null: a direct text). */
  group: string | null
  /** Counted in a line already. */
  said: boolean
}

export class Unconfirmed {
  /** Per recipient, its texts that went out and have no answer yet, by message id. */
  readonly #waiting = new Map<string, Map<string, Waiting>>()
  /** Texts said to be `queued` (id and recipient): the person knows they wait, and the outbox
   * says nothing of a retry that fails again (its `queued` is said once a run), so a retry's
   * `sent` without an answer is no news. */
  readonly #queued = new Set<string>()
  readonly #say: (line: UnconfirmedLine) => void
  readonly #now: () => number
  #timer: NodeJS.Timeout | undefined

  /** `say` prints the line for a recipient's texts. */
  constructor (say: (line: UnconfirmedLine) => void, now: () => number = Date.now) {
    this.#say = say
    this.#now = now
  }

  /** A text to `to` (in `group`, or null) went out (its `sent`). */
  sent (id: string, to: string, group: string | null): void {
    if (this.#queued.has(`${id}\n${to}`)) return
    let texts = this.#waiting.get(to)
    if (texts === undefined) this.#waiting.set(to, texts = new Map<string, Waiting>())
    texts.set(id, { sentAt: this.#now(), group, said: false })
    this.#timer ??= setInterval(() => { this.check() }, CHECK_MS).unref()
  }

  /** It is `queued`: it waits in the outbox, and the person was told. */
  queued (id: string, to: string): void {
    this.#forget(id, to)
    this.#queued.add(`${id}\n${to}`)
  }

  /** It is `delivered` or `undelivered`: done. */
  settled (id: string, to: string): void {
    this.#forget(id, to)
    this.#queued.delete(`${id}\n${to}`)
  }

  #forget (id: string, to: string): void {
    const texts = this.#waiting.get(to)
    if (texts?.delete(id) === true && texts.size === 0) this.#waiting.delete(to)
    if (this.#waiting.size === 0) this.stop()
  }

  /** Per recipient whose oldest text not said yet has waited UNCONFIRMED_MS: one line for all
   * its texts not said yet, the younger ones too (texts sent a moment apart made a line each, a
   * second apart: a tester's finding). */
  check (): void {
    const now = this.#now()
    for (const [to, texts] of this.#waiting) {
      const unsaid = [...texts.values()].filter(text => !text.said)
      const oldest = Math.min(...unsaid.map(text => text.sentAt)) // Infinity: none unsaid
      if (now - oldest < UNCONFIRMED_MS) continue
      for (const text of unsaid) text.said = true
      const groups = new Set(unsaid.map(text => text.group))
      this.#say({ to, count: unsaid.length, waitedMs: now - oldest, group: groups.size === 1 ? unsaid[0]?.group ?? null : undefined })
    }
  }

  /** Forget every text (a sign-in or sign-out: what the last account sent is no longer ours to
   * report). */
  clear (): void {
    this.#waiting.clear()
    this.#queued.clear()
    this.stop()
  }

  stop (): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }
}

/** A line's facts: `count` texts to `to`, the oldest sent `waitedMs` ago; `group`: the one group
 * they were all sent in (null: all direct; undefined: some of each, or several groups). */
export interface UnconfirmedLine { to: string, count: number, waitedMs: number, group: string | null | undefined }
