/**
 * Session openings run a few at a time (MAX_SESSIONS_OPENING): a fan-out to 64 new members, or
 * many first contacts at once, is worked through a few at a time instead of all timing out
 * together, and the openings' CPU (dial, Noise, X25519) does not lengthen every other message's
 * wait (Load test). But a slot is for the work, not for a wait on the other side: 8 members that
 * accept a stream and never answer it held all 8 slots for the 15 s of their step, and every first
 * contact waited behind them (round 46: a SEND to a new contact took 15 s, then 5–7 s each).
 *
 * So an opening that has taken SLOT_HOLD_MS while this peer's event loop keeps up is waiting on
 * the other side, and its slot goes to the next opening in line; it goes on (until its own step
 * ends) outside the count. While the loop is behind, the wait is ours to blame, and the slot is
 * kept: on a loaded peer the limit still holds the openings' CPU back.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { loopQuiet, loopLag } from '../../common/loop-quiet.ts'

/** How long an opening holds its slot before it may be taken for one waiting on the other side:
 * an opening on a quiet machine takes 10–20 ms, through the relay a few round trips. */
const SLOT_HOLD_MS = 3_000

export class OpeningSlots {
  readonly #limit: number
  readonly #holdMs: number
  readonly #lag: () => Promise<number>
  #held = 0
  readonly #waiting: Array<() => void> = []

  /** `holdMs` and `lag` (how late the loop is) are the tests'. */
  constructor (limit: number, holdMs = SLOT_HOLD_MS, lag: () => Promise<number> = loopLag) {
    this.#limit = limit
    this.#holdMs = holdMs
    this.#lag = lag
  }

  /** Openings counted against the limit now. */
  get held (): number {
    return this.#held
  }

  /** Run `work` in a slot, once one is free (first come, first served). */
  async run<T> (work: () => Promise<T>): Promise<T> {
    await this.#take()
    let holding = true
    const release = (): void => {
      if (!holding) return
      holding = false
      this.#give()
    }
    const done = new AbortController()
    void this.#releaseIfWaitingOnOthers(done.signal, release)
    try {
      return await work()
    } finally {
      done.abort()
      release()
    }
  }

  async #releaseIfWaitingOnOthers (done: AbortSignal, release: () => void): Promise<void> {
    await sleep(this.#holdMs, undefined, { signal: done, ref: false }).catch(() => {})
    if (done.aborted) return
    if (await loopQuiet(done, Number.POSITIVE_INFINITY, this.#lag)) release()
  }

  async #take (): Promise<void> {
    if (this.#held < this.#limit) {
      this.#held++
      return
    }
    // The slot is handed over by #give, still counted.
    await new Promise<void>(resolve => { this.#waiting.push(resolve) })
  }

  #give (): void {
    const next = this.#waiting.shift()
    if (next !== undefined) next()
    else this.#held--
  }
}
