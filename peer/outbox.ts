/**
 * The durable outbox (DESIGN §6). Every send is queued on disk first (with its history row, in
 * one transaction), then delivered in order per recipient and lane, pipelined: up to OUTBOX_WINDOW
 * deliveries in flight on the session with that recipient, each removed from the queue when its
 * ACK arrives (removals that arrive together share one commit). A recipient who is offline or
 * unreachable keeps its queue until the rendezvous says it is online, a session with it opens,
 * or the retry finds it. Restarts lose nothing: the queue is the store's, and the receiver drops
 * a re-delivered id it already has.
 *
 * Two lanes per recipient, each in order: texts, and files. A text does not wait behind a file
 * (until 2026-12-06 one queue per recipient held a chat behind a 1 GiB file for minutes), as a
 * person expects: a message typed while a video goes out arrives at once. Texts keep their order
 * among themselves, files theirs; a text may arrive before a file sent before it.
 */
import { ErrorCode, ErrorMark, ParleyError, asParleyError } from '../common/errors.ts'
import type { GroupName, MessageId, Username } from '../common/wire/names.ts'
import type { Emit } from './events.ts'
import type { Directory, PeerContact } from './directory.ts'
import type { Posted } from './direct/service.ts'
import type { MessageRecord, NewOutboxItem, OutboxItem, OutboxKind, PeerStore } from './store/store.ts'
import { OUTBOX_RETRY_MS } from './constants.ts'
import { announcedName } from './files/send.ts'
import { logger } from './log.ts'
import { isRecipientLeft } from './groups/membership-races.ts'
import { cutUnderWay } from './files/handoff.ts'
import { isWaitingForKey } from './groups/keyring.ts'
import { followsUnarrived } from './arrival-order.ts'
import { SigningInAgain } from './rendezvous-client.ts'

const log = logger('parley:outbox')

/** Failures of a group delivery that wait on the group, not on the recipient (the group's key,
 * its member list with the rendezvous away), marked where they are made (the deliverer): the
 * recipient's other conversations go on meanwhile (#deliverAll). */
export const waitsOnGroup = new ErrorMark()

/** Quick retries after a failed delivery to an online recipient: 1, 2, 4, 8, 16 s; the sweep
 * every OUTBOX_RETRY_MS (30 s) after that, so no wait is ever longer than 30 s (issue 11). */
const RETRY_SOON_FIRST_MS = 1_000
/** Deliveries refused with ERR_INTEGRITY this many times are given up. */
const INTEGRITY_ATTEMPTS = 5
const RETRY_SOON_LIMIT = 5

/** Deliveries in flight per lane: the session's own window (common/protocol/peer.ts). */
const OUTBOX_WINDOW = 256

/** The lanes of a recipient's queue, each delivered by a run of its own (see above). */
const LANES: readonly OutboxKind[] = ['text', 'file']

/** One lane of one recipient's queue: what a delivery run is for (#running's key). */
type Lane = string & { readonly __lane: unique symbol }
const laneOf = (recipient: Username, kind: OutboxKind): Lane => `${recipient}\n${kind}` as Lane

export interface Deliverer {
  /** Start delivering one item to a reachable contact: resolves once it is on its way, in call
   * order (`acked` then settles with the receiver's answer); call `onSent` once its bytes are out.
   * `after`: the text a text follows, for the receiver to take first (peer/arrival-order.ts). */
  deliver: (item: OutboxItem, to: PeerContact, onSent: () => void, after: MessageId | undefined) => Promise<Posted>
  /** Is a session with this peer open now? Then no directory look-up is needed to reach it. */
  connected: (peerId: string) => boolean
}

export class Outbox {
  readonly #store: PeerStore
  readonly #directory: Directory
  readonly #emit: Emit
  readonly #deliverer: Deliverer
  /** One delivery run per lane at a time keeps each conversation in order. */
  readonly #running = new Map<Lane, Promise<void>>()
  readonly #rerun = new Set<Lane>()
  /** A run waiting for acks is woken by a flush of its lane (see #deliverAll). */
  readonly #wake = new Map<Lane, () => void>()
  /** Messages accepted whose commit is not durable yet (see `accept`). */
  readonly #accepting = new Set<Promise<void>>()
  /** Items already reported as queued in this process, so a retry does not repeat it, nor a
   * sign-in again: the set is the process's, shared by the outboxes of its sessions (app.ts). */
  readonly #reportedQueued: Set<string>
  /** Lanes of recipients the directory calls online but who could not be reached: retried soon,
   * with backoff, instead of waiting for the next sweep (a peer that just signed in may take a moment
   * to answer; a flaky link recovers). */
  readonly #retries = new Map<Lane, { failures: number, timer: NodeJS.Timeout }>()
  /** Deliveries started and not yet settled (the ACK, or the refusal), by deliveryKey: what
   * LEAVE lets go on. */
  readonly #inFlight = new Map<string, OutboxItem>()
  /** Deliveries LEAVE dropped from the store that a run in progress read before: it skips them.
   * Kept per lane while its run lasts. */
  readonly #withdrawn = new Map<Lane, Set<MessageId>>()
  /** Deliveries under way when we left their group (by deliveryKey): one that fails is given
   * up, for a retry would find us no longer a member. */
  readonly #lastTry = new Set<string>()
  #timer: NodeJS.Timeout | undefined
  /** Stopped (the session is closing): no new delivery run and no new retry timer may start,
   * or one would outlive the store it reads (ERR_INTERNAL "database is not open", issue 7 soak).
   * What is queued stays in the store for the next session. */
  #stopped = false

  constructor (store: PeerStore, directory: Directory, emit: Emit, deliverer: Deliverer, reportedQueued = new Set<string>()) {
    this.#store = store
    this.#directory = directory
    this.#emit = emit
    this.#deliverer = deliverer
    this.#reportedQueued = reportedQueued
  }

  start (): void {
    this.#timer = setInterval(() => { this.flushAll() }, OUTBOX_RETRY_MS)
    this.#timer.unref()
  }

  stop (): void {
    this.#stopped = true
    for (const wake of this.#wake.values()) wake() // runs waiting for acks end once they come
    clearInterval(this.#timer)
    for (const retry of this.#retries.values()) clearTimeout(retry.timer)
    this.#retries.clear()
  }

  /** Queue a message's deliveries, with its history row when given, in one durable commit (a
   * crash cannot keep the one without the others), then start delivering them; `durable` is
   * called in between, before any event about a delivery. `alongside`: more writes of the store
   * for that commit. */
  async submit (record: MessageRecord | null, items: NewOutboxItem[], durable?: () => void, alongside?: () => void): Promise<void> {
    await this.#store.commitSoon(() => {
      if (record !== null) this.#store.addMessage(record)
      for (const item of items) this.#store.enqueue(item)
      alongside?.()
    })
    durable?.()
    // Only the lanes that have something new: a text's run does not read the files' queue.
    const lanes = new Map(items.map(item => [laneOf(item.recipient, item.kind), item]))
    for (const item of lanes.values()) this.#flushLane(item.recipient, item.kind)
  }

  flushAll (): void {
    if (this.#stopped) return // the store may be closed already (a late key or presence event)
    for (const recipient of this.#store.outboxRecipients()) this.flush(recipient)
  }

  /** Deliver what waits for `recipient`, on each lane; a flush asked for while a lane's run runs
   * runs it again after. */
  flush (recipient: Username): void {
    for (const kind of LANES) this.#flushLane(recipient, kind)
  }

  #flushLane (recipient: Username, kind: OutboxKind): void {
    if (this.#stopped) return
    const lane = laneOf(recipient, kind)
    if (this.#running.has(lane)) {
      this.#rerun.add(lane)
      this.#wake.get(lane)?.()
      return
    }
    const run = this.#deliverAll(recipient, kind)
      .catch(err => { this.#emit({ event: 'error', code: asParleyError(err).code, message: asParleyError(err).message, at: Date.now() }) })
      .finally(() => {
        this.#running.delete(lane)
        this.#withdrawn.delete(lane)
        if (this.#rerun.delete(lane)) this.#flushLane(recipient, kind)
      })
    this.#running.set(lane, run)
  }

  /**
   * Queue like `submit`, without waiting for the disk: the writes join the group commit at the end
   * of this turn of the event loop (reads of the store see them at once), and `durable` is called
   * once they are on disk, then delivery starts; `queued`/`sent` events come only after that,
   * and a failed commit is reported as an error event. A command line that runs one command at a
   * time (a pasted or piped burst of SENDs) thus pays one commit for the whole burst, not one
   * fsync per line: issue 11 measured 2,000 piped SENDs at ~600/s when each waited for its own
   * commit. Resolves once it is durable or its failure was reported (never rejects).
   */
  accept (record: MessageRecord | null, items: NewOutboxItem[], durable: () => void): Promise<void> {
    const accepted = this.submit(record, items, durable).catch(err => {
      const error = asParleyError(err)
      this.#emit({ event: 'error', code: error.code, message: `could not queue the message: ${error.message}` })
    }).finally(() => { this.#accepting.delete(accepted) })
    this.#accepting.add(accepted)
    return accepted
  }

  /**
   * We left `group` (LEAVE). Its deliveries already under way go on, as at QUIT: we sent them
   * while a member, and a receiver checks that the sender is one when a message or a file's
   * stream arrives, not at each chunk. The rest cannot go, for only members send to a group:
   * dropped, their messages `failed` (the store), and skipped by a run that read them already.
   * Until 2026-12-06 all were dropped and counted, those under way too, which then arrived all
   * the same, after "will not go".
   */
  async leaveGroup (group: GroupName): Promise<{ dropped: number, underWay: number }> {
    // In one commit's work, so nothing starts or settles between what is kept and what is not.
    return await this.#store.commitSoon(() => {
      const dropped = this.#store.dropGroupDeliveries(group, (id, recipient) => this.#inFlight.has(deliveryKey(id, recipient)))
      for (const { id, recipient } of dropped) {
        this.#forgetReported(id, recipient)
        for (const kind of LANES) {
          const lane = laneOf(recipient, kind)
          if (this.#running.has(lane)) this.#withdrawnFrom(lane).add(id)
        }
      }
      const underWay = [...this.#inFlight.values()].filter(item => item.group === group)
      for (const item of underWay) this.#lastTry.add(deliveryKey(item.id, item.recipient))
      return { dropped: dropped.length, underWay: underWay.length }
    })
  }

  #withdrawnFrom (lane: Lane): Set<MessageId> {
    let ids = this.#withdrawn.get(lane)
    if (ids === undefined) {
      ids = new Set()
      this.#withdrawn.set(lane, ids)
    }
    return ids
  }

  /** Resolves when every accepted message is durable and every delivery run in progress has
   * ended (tests and a clean QUIT use it). */
  async idle (): Promise<void> {
    while (this.#accepting.size > 0 || this.#running.size > 0) {
      await Promise.allSettled([...this.#accepting, ...this.#running.values()])
    }
  }

  async #deliverAll (recipient: Username, kind: OutboxKind): Promise<void> {
    const lane = laneOf(recipient, kind)
    let queue = this.#queueOf(recipient, kind)
    if (queue.length === 0) return
    let contact: PeerContact
    try {
      contact = await this.#contactFor(recipient)
    } catch (err) {
      const error = lookUpFailure(recipient, asParleyError(err))
      if (error.code === ErrorCode.NotFound) {
        // No such user at the rendezvous (a contact pinned here, then the rendezvous replaced or
        // its accounts lost): given up and said so, as a SEND to a name nobody has is refused.
        // Until 2026-12-07 it stayed queued for ever: "queued for alice (no user "alice"); it
        // goes as soon as alice can be reached" (round 35).
        const gone = new ParleyError(ErrorCode.NotFound, `the rendezvous knows no user "${recipient}" (any more)`, { cause: error, retryable: false })
        for (const item of queue) this.#failed(item, gone)
        return
      }
      log.warn(`finding ${recipient} failed; what waits for them stays queued`, error)
      this.#park(queue, error)
      // A look-up that failed for a passing reason (the rendezvous busy or briefly away, our
      // session there being renewed) is tried again soon, not only at the next sweep.
      if (error.retryable) this.#retrySoon(recipient, kind)
      return
    }
    if (!contact.online) {
      this.#park(queue, undefined)
      return
    }
    const inFlight = new Set<Promise<void>>()
    let failure: ParleyError | undefined
    let delivered = false
    let index = 0
    let taken = 0
    /** The last text posted in this run per conversation (a group, or '' for direct): the next
     * one names it, so the receiver never takes it first (peer/arrival-order.ts). Only this run's:
     * everything an earlier run posted was acknowledged or given up before this one began. */
    const lastText = new Map<string, MessageId>()
    /** Conversations (groups) whose delivery waits on the group itself, not on the recipient (its
     * key, its list: waitsOnGroup), with the reason and what of theirs this run holds back: the
     * rest of the lane goes on (round 50: one SENDGROUP to a group with no key yet, the
     * rendezvous away, held every later text to that member, direct ones too). */
    const held = new Map<string, { error: ParleyError, items: OutboxItem[] }>()
    // After stop, the deliveries in flight finish (close waits for them); the rest stays queued.
    while (!this.#stopped && failure === undefined) {
      if (index >= queue.length) {
        // All we read is on its way: take what was queued for this recipient meanwhile. Whatever
        // queues an item flushes its recipient after, which marks a run in progress for a
        // rerun: without that mark nothing new is queued, and the store is not asked (it was
        // asked twice more for every message that found the queue empty behind it).
        queue = this.#rerun.delete(lane) ? this.#queueOf(recipient, kind, taken) : []
        index = 0
        if (queue.length === 0) {
          if (inFlight.size === 0) break
          // Wait for an ack or for a new message to this recipient, whichever comes first: a
          // message queued while earlier ones await their acks goes out at once, beside them,
          // not after their round trip (under load, seconds) as it did when the run ended first.
          await Promise.race([...inFlight, new Promise<void>(resolve => { this.#wake.set(lane, resolve) })])
          this.#wake.delete(lane)
          continue
        }
      }
      const item = queue[index++]
      if (item === undefined) break
      taken = item.seq
      if (this.#withdrawn.get(lane)?.delete(item.id) === true) continue // LEAVE dropped it since
      const conversation = item.group ?? ''
      const holding = held.get(conversation)
      if (holding !== undefined) {
        holding.items.push(item) // behind one of its conversation that waits: in order
        continue
      }
      const key = deliveryKey(item.id, recipient)
      this.#inFlight.set(key, item)
      let posted: Posted
      try {
        posted = await this.#deliverer.deliver(item, contact, () => {
          this.#emit({ event: 'sent', ...about(item) })
        }, item.kind === 'text' ? lastText.get(conversation) : undefined)
        if (item.kind === 'text') lastText.set(conversation, item.id)
      } catch (err) {
        const error = this.#failed(item, err)
        this.#inFlight.delete(key)
        if (error !== undefined && waitsOnGroup.has(err)) held.set(conversation, { error, items: [item] })
        else failure = error
        continue
      }
      const settled: Promise<void> = posted.acked.then(
        async () => {
          try {
            await this.#delivered(item)
            delivered = true
          } catch (err) {
            // The store closing under us (at stop: the normal end) or failing: it stays queued,
            // is sent again and dropped by the receiver as a duplicate.
            if (!this.#stopped) log.error(`could not record a delivery to ${recipient} as done`, err)
            failure ??= asParleyError(err)
          }
        },
        (err: unknown) => { failure ??= this.#failed(item, err) }
      ).finally(() => {
        // Only now: a LEAVE meanwhile keeps it until its own record is written, or refused.
        this.#inFlight.delete(key)
        inFlight.delete(settled)
      })
      inFlight.add(settled)
      if (inFlight.size >= OUTBOX_WINDOW) await Promise.race(inFlight)
    }
    await Promise.allSettled([...inFlight])
    if (this.#stopped) return
    for (const { items, error } of held.values()) this.#park(items, error)
    if (failure !== undefined) {
      log.warn(`delivering to ${recipient} stopped; what is left stays queued`, failure)
      // The retry asks the directory again instead of dialling the address it gave before: the
      // recipient may have moved (signed in on another device, whose node now holds their
      // identity, while the one here answers as another peer or not at all).
      this.#directory.forget(recipient)
      this.#park(this.#queueOf(recipient, kind), failure)
      this.#retrySoon(recipient, kind)
    } else if (held.size > 0) {
      this.#retrySoon(recipient, kind)
    } else if (delivered) {
      this.#forgetRetry(lane)
    }
  }

  /** Where to deliver: on the open session with the pinned identity if there is one (no look-up:
   * under load the rendezvous must not be asked once per delivery run), else the directory. */
  async #contactFor (recipient: Username): Promise<PeerContact> {
    const pinned = this.#directory.pinned(recipient)
    if (pinned !== undefined && this.#deliverer.connected(pinned)) return { username: recipient, peerId: pinned, addrs: [], online: true }
    return await this.#directory.resolve(recipient)
  }

  /** A failed delivery: a passing failure (`retryable`, as the place that made the error said)
   * ends this run (returned, the item stays queued); any other drops the item and reports it. */
  #failed (item: OutboxItem, err: unknown): ParleyError | undefined {
    const error = asParleyError(err)
    if (this.#stopped) return error
    this.#store.countAttempt(item.id, item.recipient)
    // A recipient that cannot open what we send (a key that is not the one we hold) will not
    // start to after the fifth try: reported, not retried for ever (issue 12).
    const hopeless = error.code === ErrorCode.Integrity && item.attempts + 1 >= INTEGRITY_ATTEMPTS
    const afterLeaving = this.#lastTry.delete(deliveryKey(item.id, item.recipient))
    // A file cut while it went (its progress shown) is said to wait again, whatever was said before.
    if (cutUnderWay(err)) this.#forgetReported(item.id, item.recipient)
    if (error.retryable && !hopeless && !afterLeaving) return error
    this.#forgetReported(item.id, item.recipient)
    // The recipient left the group before it reached them: not theirs any more, as a message
    // sent after they left never was. Withdrawn without a word, its message delivered once the
    // members are (membership-races.ts; until 2026-12-06 undelivered, and `failed`: round 8).
    if (isRecipientLeft(error)) {
      log.warn(`${item.recipient} left ${item.group ?? ''} before a message reached them: withdrawn`)
      this.#store.withdrawFromLeaver(item.id, item.recipient)
      this.#emit({ event: 'withdrawn', ...about(item) })
      return undefined
    }
    this.#store.giveUp(item.id, item.recipient, item.group)
    const what = about(item)
    const notAgain = afterLeaving ? ` (you left ${item.group}, so it is not tried again)` : ''
    this.#emit({ event: 'undelivered', ...what, code: error.code, message: `could not deliver ${what.name === null ? '' : `${what.name} `}to ${item.recipient}${item.group === null ? '' : ` in ${item.group}`}: ${error.message}${notAgain}` })
    return undefined
  }

  /** The recipient's ACK says it has the message on its disk: that is `delivered`, reported at
   * once. Our own record of it (the outbox row gone, the status) joins the next group commit and
   * is awaited only for the delivery window: waiting for it first put a third fsync on every
   * SEND's path. A crash before that commit sends the message again after the restart; the
   * recipient drops the copy and ACKs it, and `delivered` is reported a second time. */
  async #delivered (item: OutboxItem): Promise<void> {
    this.#forgetReported(item.id, item.recipient)
    this.#lastTry.delete(deliveryKey(item.id, item.recipient))
    this.#emit({ event: 'delivered', ...about(item) })
    await this.#store.commitSoon(() => {
      this.#store.removeFromOutbox(item.id, item.recipient)
      if (item.group === null) this.#store.setStatus(item.id, item.recipient, 'delivered')
      else this.#store.markGroupDeliveredIfDone(item.id)
    })
  }

  /** What waits for `recipient` on one lane (after the item of seq `after`), as the store reads it. What the
   * store dropped as it read, queued by an earlier account of this name in this folder and so
   * never to go, is said (until 2026-12-06 it went without a word: a tester's finding). */
  #queueOf (recipient: Username, kind: OutboxKind, after?: number): OutboxItem[] {
    const queue = this.#store.outboxFor(recipient, after, kind)
    for (const { id, recipient: to, group, kind } of this.#store.takeUnsendable()) {
      this.#forgetReported(id, to)
      const message = `could not deliver ${kind === 'file' ? 'a file' : 'a message'} to ${to}${group === null ? '' : ` in ${group}`}: an earlier account of your name queued it in this folder, and it does not open with this one`
      this.#emit({ event: 'undelivered', id, to, group, name: null, code: ErrorCode.Integrity, message })
    }
    return queue
  }

  #retrySoon (recipient: Username, kind: OutboxKind): void {
    if (this.#stopped) return
    const lane = laneOf(recipient, kind)
    const failures = (this.#retries.get(lane)?.failures ?? 0) + 1
    if (failures > RETRY_SOON_LIMIT) return // the periodic sweep takes over
    clearTimeout(this.#retries.get(lane)?.timer)
    const timer = setTimeout(() => { this.#flushLane(recipient, kind) }, RETRY_SOON_FIRST_MS * 2 ** (failures - 1))
    timer.unref()
    this.#retries.set(lane, { failures, timer })
  }

  #forgetRetry (lane: Lane): void {
    clearTimeout(this.#retries.get(lane)?.timer)
    this.#retries.delete(lane)
  }

  /** Say once of each delivery that it waits (`queued`), and why: `offline` when the rendezvous
   * says so, also when a delivery was cut off from someone it last said went offline (until
   * 2026-12-06 that read `the other side closed the connection`, which only a terminal put right
   * from the presence it had shown: round 7), else what went wrong. */
  #park (items: OutboxItem[], error: ParleyError | undefined): void {
    // Overtaken by itself across a re-key (arrival-order.ts): not waiting, only coming again in
    // order (round 46: 1,043 `queued` lines for a burst of 2,000 texts that all arrived).
    if (error !== undefined && followsUnarrived(error)) return
    const recipient = items[0]?.recipient
    const away = error === undefined || (error.code === ErrorCode.Unreachable && !isWaitingForKey(error.message) &&
      recipient !== undefined && this.#directory.saidOffline(recipient))
    const reason = away ? 'offline' : error.message
    const code = away ? null : error.code
    for (const item of items) {
      // Said again once if it comes to wait for the recipient's disk: the first reason (a
      // connection cut as the disk filled) said nothing of it (round 11).
      const key = deliveryKey(item.id, item.recipient) + (code === ErrorCode.NoSpace ? NO_SPACE_SAID : '')
      if (this.#reportedQueued.has(key)) continue
      this.#reportedQueued.add(key)
      this.#emit({ event: 'queued', ...about(item), reason, code })
    }
  }

  /** `recipient`'s new identity was accepted (TRUST): what waited for that is said again should
   * it wait on, now for another reason (their side may know us by another identity too, and
   * then waits for their TRUST: until 2026-12-06 the line still said it went once we accepted). */
  identityAccepted (recipient: Username): void {
    for (const key of this.#reportedQueued) if (key.endsWith(`/${recipient}`)) this.#reportedQueued.delete(key)
  }

  /** The delivery is over (done or given up): what was said of it is forgotten. */
  #forgetReported (id: string, recipient: string): void {
    const key = deliveryKey(id, recipient)
    this.#reportedQueued.delete(key)
    this.#reportedQueued.delete(key + NO_SPACE_SAID)
  }
}

/** Which delivery an event is about: a file by the name it is announced under (as SENDFILE's
 * `accepted` named it), a text by none. */
function about (item: OutboxItem): { id: string, to: string, group: string | null, name: string | null } {
  return { id: item.id, to: item.recipient, group: item.group, name: item.kind === 'file' ? announcedName(item.body) : null }
}

/** Beside a delivery's key in #reportedQueued: it was said to wait for the recipient's disk. */
const NO_SPACE_SAID = ' no space'

/** One delivery: a message to one recipient (the outbox's key, and #reportedQueued's). */
function deliveryKey (id: string, recipient: string): string {
  return `${id}/${recipient}`
}

/** Why a look-up that failed holds a delivery. One refused while our sign-in at the rendezvous is
 * renewed said 'try again in a moment' in its `queued` (round 20), which asked the person to do
 * what the outbox does by itself. */
function lookUpFailure (recipient: Username, error: ParleyError): ParleyError {
  if (!(error instanceof SigningInAgain)) return error
  return new ParleyError(ErrorCode.NotSignedIn, `finding ${recipient} needs the rendezvous, which this peer is signing in to again`, { cause: error })
}
