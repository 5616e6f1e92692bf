/**
 * Whether what goes out still gets anywhere, for QUIT's wait (main.ts). A QUIT waits for
 * deliveries that move: a file's bytes going out, ACKs coming back. Until 2026-12-07 it waited
 * for every delivery to end, and one stuck on a frozen peer (an ACK that never comes, a dial that
 * hangs on a port the kernel still accepts) held it 23–27 s without a word, as did a file that
 * could not finish in the 30 s anyway (round 38). What is left goes out the next time the user
 * signs in here, as after any cut.
 */
import type { PeerEvent } from './events.ts'

/** A file's rate is judged over at least this much of the wait, so a first burst into the
 * socket's buffers is not taken for its pace. */
const RATE_SAMPLE_MS = 1_000

/** A delivery went out or settled, one way or another: the others may go on. */
const SETTLED = new Set<PeerEvent['event']>(['sent', 'delivered', 'undelivered', 'queued', 'withdrawn'])

interface FileSeen {
  /** When the wait first saw it, and how far it was then. */
  since: number
  from: number
}

export class OutgoingActivity {
  readonly #clock: () => number
  #deadline: number | undefined
  #lastMove = 0
  /** Files going out during the wait, by id and recipient (a group file goes to each member). */
  readonly #files = new Map<string, FileSeen>()

  constructor (clock: () => number = () => performance.now()) {
    this.#clock = clock
  }

  /** The wait begins; it ends at the latest `waitMs` from now. */
  start (waitMs: number): void {
    this.#lastMove = this.#clock()
    this.#deadline = this.#lastMove + waitMs
    this.#files.clear()
  }

  /** Every event the peer emits: those of a delivery moving count as activity, once started. */
  observe (event: PeerEvent): void {
    if (this.#deadline === undefined) return
    const now = this.#clock()
    if (event.event === 'progress') {
      if (event.direction === 'send' && this.#canFinish(`${event.id}:${event.peer}`, event.bytes, event.total, now)) this.#lastMove = now
    } else if (SETTLED.has(event.event)) {
      this.#lastMove = now
    }
  }

  /** How long nothing has moved (that could finish before the wait's end). */
  stillFor (): number {
    return this.#clock() - this.#lastMove
  }

  /** A file moves usefully if, at its pace during the wait, its last byte goes out in time. */
  #canFinish (key: string, bytes: number, total: number, now: number): boolean {
    const seen = this.#files.get(key)
    if (seen === undefined) {
      this.#files.set(key, { since: now, from: bytes })
      return true
    }
    const elapsed = now - seen.since
    if (elapsed < RATE_SAMPLE_MS) return true
    const rate = (bytes - seen.from) / elapsed
    if (rate <= 0) return false
    return now + (total - bytes) / rate <= (this.#deadline ?? Infinity)
  }
}
