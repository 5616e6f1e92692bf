/**
 * The durable outbox (DESIGN §6). Every send is queued on disk first, then delivered in order,
 * one recipient at a time; a recipient who is offline or unreachable keeps its queue until the
 * rendezvous says it is online (or the periodic retry finds it). Restarts lose nothing: the
 * queue is the store's, and the receiver drops a re-delivered id it already has.
 */
import { ErrorCode, asParleyError } from '../common/errors.ts'
import type { ParleyError } from '../common/errors.ts'
import type { Emit } from './events.ts'
import type { Directory, PeerContact } from './directory.ts'
import type { OutboxItem, PeerStore } from './store/store.ts'
import { OUTBOX_RETRY_MS } from './constants.ts'

/** Quick retries after a failed delivery to an online recipient: 1, 2, 4, 8, 16 s. */
const RETRY_SOON_FIRST_MS = 1_000
const RETRY_SOON_LIMIT = 5

export interface Deliverer {
  /** Deliver one item to a reachable contact; call `onSent` once its bytes are out. */
  deliver: (item: OutboxItem, to: PeerContact, onSent: () => void) => Promise<void>
}

/** Failures worth trying again later; anything else drops the item and reports it.
 * NotSignedIn is the rendezvous answering a member-list or key look-up of a group delivery while
 * our session there has ended (its events stream dropped; Session signs in again with backoff
 * and then flushes everything): the item must wait for that, not be dropped (issue 7 soak). */
const RETRYABLE = new Set<string>([ErrorCode.Unreachable, ErrorCode.Protocol, ErrorCode.RateLimited, ErrorCode.Internal, ErrorCode.Integrity, ErrorCode.IdentityChanged, ErrorCode.NotSignedIn])

export class Outbox {
  readonly #store: PeerStore
  readonly #directory: Directory
  readonly #emit: Emit
  readonly #deliverer: Deliverer
  /** One delivery run per recipient at a time keeps each conversation in order. */
  readonly #running = new Map<string, Promise<void>>()
  readonly #rerun = new Set<string>()
  /** Items already reported as queued in this process, so a retry does not repeat it. */
  readonly #reportedQueued = new Set<string>()
  /** Recipients the directory calls online but who could not be reached: retried soon, with
   * backoff, instead of waiting for the next sweep (a peer that just signed in may take a moment
   * to answer; a flaky link recovers). */
  readonly #retries = new Map<string, { failures: number, timer: NodeJS.Timeout }>()
  #timer: NodeJS.Timeout | undefined
  /** Stopped (the session is closing): no new delivery run and no new retry timer may start,
   * or one would outlive the store it reads (ERR_INTERNAL "database is not open", issue 7 soak).
   * What is queued stays in the store for the next session. */
  #stopped = false

  constructor (store: PeerStore, directory: Directory, emit: Emit, deliverer: Deliverer) {
    this.#store = store
    this.#directory = directory
    this.#emit = emit
    this.#deliverer = deliverer
  }

  start (): void {
    this.#timer = setInterval(() => { this.flushAll() }, OUTBOX_RETRY_MS)
    this.#timer.unref()
  }

  stop (): void {
    this.#stopped = true
    clearInterval(this.#timer)
    for (const retry of this.#retries.values()) clearTimeout(retry.timer)
    this.#retries.clear()
  }

  /** Queue one delivery and start delivering it. */
  submit (item: Omit<OutboxItem, 'attempts' | 'created'>): void {
    this.#store.enqueue({ ...item, created: Date.now() })
    this.flush(item.recipient)
  }

  flushAll (): void {
    for (const recipient of this.#store.outboxRecipients()) this.flush(recipient)
  }

  /** Deliver what waits for `recipient`; a flush asked for while one runs runs again after it. */
  flush (recipient: string): void {
    if (this.#stopped) return
    if (this.#running.has(recipient)) {
      this.#rerun.add(recipient)
      return
    }
    const run = this.#deliverAll(recipient)
      .catch(err => { this.#emit({ event: 'error', code: asParleyError(err).code, message: asParleyError(err).message }) })
      .finally(() => {
        this.#running.delete(recipient)
        if (this.#rerun.delete(recipient)) this.flush(recipient)
      })
    this.#running.set(recipient, run)
  }

  /** Resolves when every delivery run in progress has ended (tests and a clean QUIT use it). */
  async idle (): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running.values()])
  }

  async #deliverAll (recipient: string): Promise<void> {
    let items = this.#store.outboxFor(recipient)
    if (items.length === 0) return
    let contact: PeerContact
    try {
      contact = await this.#directory.resolve(recipient)
    } catch (err) {
      const error = asParleyError(err)
      this.#park(items, error)
      // A look-up that failed for a passing reason (the rendezvous busy or briefly away, our
      // session there being renewed) is tried again soon, not only at the next sweep: a group
      // send resolves every member at once, and the rendezvous refuses a peer's requests past
      // 16 at a time (issue 7 soak: a 20-member group got 3 members' copies 30 s late).
      if (RETRYABLE.has(error.code)) this.#retrySoon(recipient)
      return
    }
    if (!contact.online) {
      this.#park(items, undefined)
      return
    }
    let delivered = false
    // After stop, the delivery in progress finishes (close waits for it); the rest stays queued.
    while (items.length > 0 && !this.#stopped) {
      const item = items[0]
      if (item === undefined) break
      try {
        await this.#deliverer.deliver(item, contact, () => {
          this.#emit({ event: 'sent', id: item.id, to: recipient, group: item.group })
        })
      } catch (err) {
        const error = asParleyError(err)
        this.#store.countAttempt(item.id, recipient)
        if (RETRYABLE.has(error.code)) {
          this.#park(items, error)
          this.#retrySoon(recipient)
          return
        }
        this.#store.removeFromOutbox(item.id, recipient)
        if (item.group === null) this.#store.setStatus(item.id, recipient, 'failed')
        this.#emit({ event: 'error', code: error.code, message: `could not deliver to ${recipient}: ${error.message}` })
        items = this.#store.outboxFor(recipient)
        continue
      }
      this.#store.removeFromOutbox(item.id, recipient)
      if (item.group === null) this.#store.setStatus(item.id, recipient, 'delivered')
      this.#reportedQueued.delete(`${item.id}/${recipient}`)
      this.#emit({ event: 'delivered', id: item.id, to: recipient, group: item.group })
      delivered = true
      items = this.#store.outboxFor(recipient)
    }
    if (delivered) this.#forgetRetry(recipient)
  }

  #retrySoon (recipient: string): void {
    if (this.#stopped) return
    const failures = (this.#retries.get(recipient)?.failures ?? 0) + 1
    if (failures > RETRY_SOON_LIMIT) return // the periodic sweep takes over
    clearTimeout(this.#retries.get(recipient)?.timer)
    const timer = setTimeout(() => { this.flush(recipient) }, RETRY_SOON_FIRST_MS * 2 ** (failures - 1))
    timer.unref()
    this.#retries.set(recipient, { failures, timer })
  }

  #forgetRetry (recipient: string): void {
    clearTimeout(this.#retries.get(recipient)?.timer)
    this.#retries.delete(recipient)
  }

  #park (items: OutboxItem[], error: ParleyError | undefined): void {
    const reason = error === undefined ? 'offline' : error.message
    for (const item of items) {
      const key = `${item.id}/${item.recipient}`
      if (this.#reportedQueued.has(key)) continue
      this.#reportedQueued.add(key)
      this.#emit({ event: 'queued', id: item.id, to: item.recipient, group: item.group, reason })
    }
  }
}
