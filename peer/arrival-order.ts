/**
 * One sender's texts are taken in the order they were sent (a tester's finding, 2026-12-06: a
 * burst to a new group arrived `1 3 2 4 5…`, at a member restarted mid-burst `…78 79 87 80…`).
 * Deliveries are pipelined (issue 11), so without more a message could overtake the one before
 * it three ways: its checks finished first (they may wait on the rendezvous or a key), the one
 * before was refused for a passing reason (the group key still on its way) and came again
 * later, or the one before was lost with its connection while this one went on the next.
 *
 * So the sender names, on each text, the one it follows in the same conversation if that was
 * posted in the same delivery run (common/protocol/peer.ts, the frame's `p`; peer/outbox.ts).
 * Here a text is taken only after that one has been: stored, or refused for good (the sender
 * gives it up, so the gap is for ever). If that one was refused for a passing reason, or never
 * came, this one is refused for a passing reason too, and the sender sends both again in order.
 * A text that follows nothing named (the first of a run: everything before it was acknowledged
 * or given up) is taken at once. Taking means checked, opened and queued for the next group
 * commit: the store keeps commit order, so texts of one burst still share a commit.
 */
import { ErrorCode, ParleyError, asParleyError } from '../common/errors.ts'
import { REFUSED_BY_RECIPIENT } from '../common/protocol/peer.ts'

/** Texts refused for good remembered, so one that follows them is not held back: far more than
 * a session's window (256), and a few kilobytes. */
const REFUSED_FOR_GOOD_KEPT = 4_096

/** The longest a text waits for the one it follows (or for an earlier copy of itself): past the
 * longest its checks take (a rendezvous request, 15 s). Then it is refused for a passing reason
 * and comes again: a sender whose texts are made to wait on each other for ever (round 46, a
 * cycle through a second copy of an id) holds none of them longer than this. */
const FOLLOW_PATIENCE_MS = 30_000

/** Texts of one sender being taken at once: as many as four sessions' windows (SESSION_WINDOW,
 * and sessions.ts keeps four per peer), all an honest sender can have in flight. Past it a text
 * is refused for a passing reason: a hostile sender made texts wait (on a frozen rendezvous, 15 s
 * each) session after session, and this peer held 300 MB of them (round 46). */
export const MAX_TAKING_PER_SENDER = 1_024

export class ArrivalOrder {
  /** Texts being taken, by sender and id: resolves true once taken in order (queued for the
   * store, or refused for good), false when refused for a passing reason. */
  readonly #taking = new Map<string, Promise<boolean>>()
  readonly #refusedForGood = new Set<string>()
  /** How many texts of each sender are being taken (MAX_TAKING_PER_SENDER). */
  readonly #takingBy = new Map<string, number>()
  readonly #stored: (from: string, id: string) => boolean

  /** `stored`: whether a text from `from` of this id (hex) is in the store already. */
  constructor (stored: (from: string, id: string) => boolean) {
    this.#stored = stored
  }

  /**
   * Take the text `id` from `from`, which follows `after` (if named): `take` checks it, opens it
   * and queues it for storing, returning `stored`, which resolves once it is durable. Resolves
   * then; rejects with `take`'s error, or, when `after` has not been taken, with ERR_UNREACHABLE
   * (retryable).
   */
  async take (from: string, id: Uint8Array, after: Uint8Array | undefined, take: () => Promise<{ stored: Promise<void> }>): Promise<void> {
    const key = arrivalKey(from, id)
    // It would wait for itself.
    if (after !== undefined && arrivalKey(from, after) === key) throw new ParleyError(ErrorCode.Protocol, 'a message cannot follow itself')
    const taking = this.#takingBy.get(from) ?? 0
    if (taking >= MAX_TAKING_PER_SENDER) throw new ParleyError(ErrorCode.RateLimited, 'too many of your messages are waiting to be taken here; they are to come again')
    this.#takingBy.set(from, taking + 1)
    try {
      await this.#take(key, from, after, take)
    } finally {
      const left = (this.#takingBy.get(from) ?? 1) - 1
      if (left === 0) this.#takingBy.delete(from)
      else this.#takingBy.set(from, left)
    }
  }

  async #take (key: string, from: string, after: Uint8Array | undefined, take: () => Promise<{ stored: Promise<void> }>): Promise<void> {
    // The same text again while it is being taken (sent again on a new session as the first
    // one's was lost): after it, and the store keeps it once. The first copy stays the one that
    // others follow: were the second one, which may follow a text that arrived after the first,
    // a text could wait on a text that waits on it (round 46: a hostile sender so held every
    // text after it, and its memory, for ever).
    const same = this.#taking.get(key)
    let inOrder!: (taken: boolean) => void
    const taking = new Promise<boolean>(resolve => { inOrder = resolve })
    if (same === undefined) this.#taking.set(key, taking)
    try {
      if (same !== undefined) await withinPatience(same)
      if (after !== undefined) await this.#follows(from, after)
      const { stored } = await take()
      inOrder(true)
      await stored
    } catch (err) {
      const error = asParleyError(err)
      if (!error.retryable) this.#rememberRefusedForGood(key)
      inOrder(!error.retryable)
      throw err
    } finally {
      if (this.#taking.get(key) === taking) this.#taking.delete(key)
    }
  }

  async #follows (from: string, after: Uint8Array): Promise<void> {
    const key = arrivalKey(from, after)
    const taking = this.#taking.get(key)
    const taken = taking !== undefined ? await withinPatience(taking) : this.#stored(from, hex(after)) || this.#refusedForGood.has(key)
    if (!taken) throw notYet()
  }

  #rememberRefusedForGood (key: string): void {
    this.#refusedForGood.add(key)
    if (this.#refusedForGood.size > REFUSED_FOR_GOOD_KEPT) this.#refusedForGood.delete(this.#refusedForGood.values().next().value ?? '')
  }
}

/** Why a text waiting for one that has not arrived is refused, as its sender reads it. */
const FOLLOWS_UNARRIVED = 'it follows a message that has not arrived yet: both are to come again, in order'

function notYet (): ParleyError {
  return new ParleyError(ErrorCode.Unreachable, FOLLOWS_UNARRIVED)
}

/** A refusal, read by the sender, of a text that came before the one it follows (a session
 * re-keyed mid-burst: the new one's first texts overtook the old one's last). Nothing to tell
 * the person: it comes again at once, in order, after the one it follows. */
export function followsUnarrived (err: ParleyError): boolean {
  return err.code === ErrorCode.Unreachable && err.message === `${REFUSED_BY_RECIPIENT}${FOLLOWS_UNARRIVED}`
}

/** What `taking` resolves to, or false (not taken) if it takes longer than FOLLOW_PATIENCE_MS. */
async function withinPatience (taking: Promise<boolean>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([taking, new Promise<boolean>(resolve => { timer = setTimeout(resolve, FOLLOW_PATIENCE_MS, false).unref() })])
  } finally {
    clearTimeout(timer)
  }
}

function arrivalKey (from: string, id: Uint8Array): string {
  return `${from}/${hex(id)}`
}

function hex (id: Uint8Array): string {
  return Buffer.from(id).toString('hex')
}
