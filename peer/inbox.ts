/**
 * What arrives: every inbound message and file passes through here to be checked, stored
 * (before the ACK goes back, DESIGN §6), de-duplicated by id and reported. (Group keys handed
 * over go to the keyring, groups/keyring.ts.)
 */
import { ErrorCode, ErrorMark, ParleyError } from '../common/errors.ts'
import { RateLimiter } from '../common/rate-limiter.ts'
import { toMessageId } from '../common/wire/names.ts'
import type { GroupName, Username } from '../common/wire/names.ts'
import { INBOUND_STREAMS_BURST, INBOUND_STREAMS_PER_SECOND } from './constants.ts'
import type { Emit, PeerEvent } from './events.ts'
import type { Directory } from './directory.ts'
import type { MessageRecord, PeerStore } from './store/store.ts'
import { WarningThrottle } from './warnings.ts'
import { storeDamaged } from './store/group-commit.ts'
import { ArrivalOrder } from './arrival-order.ts'
import { CatchUpOrder } from './catch-up-order.ts'
import { refusedQuietly } from './groups/membership-races.ts'
import { cutSaid } from './files/handoff.ts'
import { downloadsUnwritable } from './files/receive.ts'

export interface IncomingText {
  from: Username
  group: GroupName | null
  id: Uint8Array
  text: string
  sentAt: number
}

export interface IncomingFile {
  from: Username
  group: GroupName | null
  id: Uint8Array
  name: string
  path: string
  size: number
  sha256: Uint8Array
  /** When its sender says it was sent; null from a sender that does not say. */
  sentAt: number | null
}

/** What a blocked sender is told, after "refused by the recipient: ". */
const BLOCKED_SENDER = 'you are blocked: nothing of yours is taken'
/** Refusals of blocked senders: nothing to warn our user of. */
const blockedSenders = new ErrorMark()

export class Inbox {
  readonly #store: PeerStore
  readonly #directory: Directory
  readonly #emit: Emit
  /** New streams per sender: a registered user must not be able to flood us with sessions and files. */
  readonly #limiter: RateLimiter
  readonly #warnings: WarningThrottle
  readonly #order: ArrivalOrder
  readonly #catchUp = new CatchUpOrder()
  /** Senders whose files are coming in now, each with what stops them (`blocked`). */
  readonly #taking = new Map<string, { controller: AbortController, files: number }>()

  /** `perSecond` and `burst` are the limits per sender (the benchmark lifts them to measure the
   * pipeline itself, not the policy). */
  constructor (store: PeerStore, directory: Directory, emit: Emit, limits = { perSecond: INBOUND_STREAMS_PER_SECOND, burst: INBOUND_STREAMS_BURST }, now: () => number = Date.now) {
    this.#limiter = new RateLimiter({ ...limits, maxKeys: 10_000, now })
    this.#warnings = new WarningThrottle(now)
    this.#store = store
    this.#directory = directory
    this.#emit = emit
    this.#order = new ArrivalOrder((from, id) => this.#store.hasMessage(id, 'in', from))
  }

  /** The username of an authenticated remote peer, from the name card its hello carried if
   * any; unknown peers and floods are refused (ERR_RATE_LIMITED: the sender's outbox tries
   * again later, so nothing is lost). */
  async senderOf (peerId: string, card?: Uint8Array, blocked: 'refuse' | 'let-through' = 'refuse'): Promise<Username> {
    this.#limiter.take(peerId)
    const from = await this.#directory.usernameOf(peerId, card)
    if (blocked === 'refuse') this.#refuseIfBlocked(from)
    return from
  }

  /** A user blocked here (BLOCK) is refused whatever it sends, and told so: its outbox gives up
   * (ERR_FORBIDDEN is not tried again) rather than trying for ever. A stream whose refusal can
   * only be said under its keys (a group file's) lets the sender through `senderOf` and refuses
   * with this once it can. */
  blockedRefusal (from: string): ParleyError | undefined {
    return this.#store.isBlocked(from) ? blockedSenders.add(new ParleyError(ErrorCode.Forbidden, BLOCKED_SENDER)) : undefined
  }

  /** Aborted once our user blocks `from` (`blocked`): a file of theirs coming in stops there,
   * and what came of it goes (handoff.ts). `done` when the file is over. */
  whileUnblocked (from: string): { signal: AbortSignal, done: () => void } {
    let taking = this.#taking.get(from)
    if (taking === undefined) this.#taking.set(from, taking = { controller: new AbortController(), files: 0 })
    const held = taking
    held.files++
    return {
      signal: held.controller.signal,
      done: () => { if (--held.files === 0 && this.#taking.get(from) === held) this.#taking.delete(from) }
    }
  }

  /** Our user blocked `from` (the store says so already): files of theirs coming in stop now
   * (until 2026-12-07 one went on to its end, and was shown: round 47). */
  blocked (from: string): void {
    // Marked as a blocked sender's refusal: our user chose it, nothing to warn of.
    this.#taking.get(from)?.controller.abort(blockedSenders.add(new ParleyError(ErrorCode.Forbidden, `you blocked ${from}`)))
    this.#taking.delete(from)
  }

  #refuseIfBlocked (from: string): void {
    const refusal = this.blockedRefusal(from)
    if (refusal !== undefined) throw refusal
  }

  /** A text off a session, taken in its sender's order (peer/arrival-order.ts): after the text
   * it follows (`after`, if the sender named one), `open` checks and opens it, then it is stored
   * and reported as `onText` does. Resolves once it is durable. */
  async takeText (from: Username, id: Uint8Array, after: Uint8Array | undefined, open: () => Promise<IncomingText>): Promise<void> {
    // (Also on a session we opened to them: a member of our group we write to.)
    this.#refuseIfBlocked(from)
    await this.#order.take(from, id, after, async () => ({ stored: this.onText(await open()) }))
  }

  /** Store (once) and report a text; a duplicate id is ACKed again but not shown twice. Resolves
   * once it is durable: texts that arrive together share one commit (issue 11). */
  async onText (message: IncomingText): Promise<void> {
    const id = toMessageId(Buffer.from(message.id).toString('hex'))
    const at = Date.now()
    // The sender's clock: shown beside ours, never taken for it (a clock ahead is read as now).
    const sentAt = Math.min(message.sentAt, at)
    const { from, group } = message
    await this.#storeAndShow({
      id, direction: 'in', peer: from, group, kind: 'text', body: message.text, path: null, status: 'received', at, sentAt
    }, () => group === null
      ? { event: 'message', id, from, text: message.text, at, sentAt }
      : { event: 'group-message', id, group, from, text: message.text, at, sentAt },
    // A group's talk that waited for us is shown in the order it was sent (catch-up-order.ts).
    group === null ? show => { show() } : show => { this.#catchUp.add(group, { from, sentAt, at, show }) })
  }

  /** Show the group texts held for their catch-up's order now (a sign-out). */
  showHeld (): void {
    this.#catchUp.flush()
  }

  /** Has this file already arrived (a retry after a lost ACK)? Then it is not received again. */
  hasFile (from: string, id: Uint8Array): boolean {
    return this.#store.hasMessage(Buffer.from(id).toString('hex'), 'in', from)
  }

  async onFile (file: IncomingFile): Promise<void> {
    const id = toMessageId(Buffer.from(file.id).toString('hex'))
    const at = Date.now()
    const sha256 = Buffer.from(file.sha256).toString('hex')
    const sentAt = file.sentAt === null ? null : Math.min(file.sentAt, at)
    const { group, from } = file
    await this.#storeAndShow({
      id, direction: 'in', peer: from, group, kind: 'file', body: file.name, path: file.path, status: 'received', at, ...(sentAt !== null ? { sentAt } : {})
    }, () => group === null
      ? { event: 'file', id, from, name: file.name, path: file.path, size: file.size, sha256, at, sentAt }
      : { event: 'group-file', id, group, from, name: file.name, path: file.path, size: file.size, sha256, at, sentAt },
    // In a group's catch-up under way, in the order it was sent (catch-up-order.ts).
    group === null || sentAt === null ? show => { show() } : show => { this.#catchUp.add(group, { from, sentAt, at, show, file: true }) })
  }

  /** Store what came in (in the next group commit) and, unless it is a duplicate, show it, now
   * or when `when` calls its `show` (a held group text); the store's shown mark moves past it only
   * once it was shown (store/shown-mark.ts), so a stop in between is told of at the next sign-in. */
  async #storeAndShow (record: MessageRecord, event: () => PeerEvent, when: (show: () => void) => void = show => { show() }): Promise<void> {
    // Set in the commit's work, so that a commit that fails still lets the mark move past it.
    let row: number | undefined
    let handedOver = false
    try {
      await this.#store.commitSoon(() => {
        row = this.#store.addMessage(record)
        if (row !== undefined) this.#store.shown.stored(row)
      })
      const stored = row
      if (stored !== undefined) {
        handedOver = true
        when(() => {
          const shown = (): void => { this.#store.shown.done(stored) }
          try {
            this.#emit(event(), shown)
          } catch (err) {
            shown() // the output failed: no reason to hold the mark below it for the rest of the run
            throw err
          }
        })
      }
    } finally {
      if (row !== undefined && !handedOver) this.#store.shown.done(row)
    }
  }

  /** A contact by the name pinned for it, else by its peer id (a stranger, or the store closed). */
  #nameOf (peerId: string): string {
    try {
      const username = this.#store.usernameForPeer(peerId)
      return username === undefined ? peerId : `${username} (${peerId})`
    } catch {
      return peerId
    }
  }

  /** A failed inbound stream: report what the user should know, drop the rest. The same
   * refusal is reported once a minute, and each kind a few times a minute from all senders
   * together (peer/warnings.ts), not once per refused stream. */
  onInboundError (peerId: string, err: ParleyError): void {
    if (err.code === ErrorCode.Unreachable) return // the sender went away mid-stream; it retries
    if (err.code === ErrorCode.Abandoned) return // the sender gave a file up: file-cut said so
    if (refusedQuietly(err)) return // a group's membership moved under it: the sender is told (membership-races.ts)
    if (cutSaid(err)) return // a file cut by our full disk: its file-cut line said so
    if (err.code === ErrorCode.NotSignedIn) return // our sign-in at the rendezvous being renewed: the sender tries again (round 14)
    if (blockedSenders.has(err)) return // our user chose it (BLOCK)
    // Our downloads folder cannot be written to: ours to mend, said once a minute whoever sends
    // (until 2026-12-07 as a refusal of the sender's, at each of its tries: round 25).
    // So is a store whose file is damaged: nothing can be kept until it is replaced (round 46:
    // "the local store could not commit", 30 times in 8 s, and nothing said what to do).
    const message = downloadsUnwritable(err)
      ? this.#warnings.admit(err.code, `cannot save a file from ${this.#nameOf(peerId)}: ${err.message}; it is sent again later`, true)
      : storeDamaged(err)
        ? this.#warnings.admit(err.code, `cannot keep what ${this.#nameOf(peerId)} sends: ${err.message}. QUIT, move ${this.#store.path} aside, and LOGIN again: ` +
          'what it held is lost here, and what others send you waits in their outboxes meanwhile', true)
        : this.#warnings.admit(err.code, `refused incoming data from ${this.#nameOf(peerId)}: ${err.message}`)
    if (message !== undefined) this.#emit({ event: 'warning', code: err.code, message })
  }
}
