/**
 * One direct session (issue 11): a long-lived, sealed, two-way conversation between two peers
 * over one stream (common/protocol/peer.ts). Either side may post messages; they are pipelined
 * (up to SESSION_WINDOW in flight) and acknowledged in batches: every message that arrived
 * together is stored in one group commit and answered by one ack frame.
 *
 * Backpressure, not collapse: the receiver takes each message from a per-sender token bucket and
 * waits out any debt before reading on, and stops reading while SESSION_WINDOW of its messages
 * wait to be stored; yamux's flow control then slows the sender's writes. Nothing is refused
 * for being fast, so a burst drains at the rate the path allows.
 *
 * A session retires itself before its send key has sealed TDES_REKEY_BYTES or after
 * SESSION_MAX_AGE_MS: it says `end`, posts nothing more, and closes once both sides have ended
 * and nothing is outstanding; the next message opens a new session with a new DH exchange.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { ErrorCode, ParleyError, asParleyError } from '../../common/errors.ts'
import { MAX_ACKS_PER_FRAME, SESSION_WINDOW, decodeSessionFrame, refusalError } from '../../common/protocol/peer.ts'
import type { Refusal, SessionFrame } from '../../common/protocol/peer.ts'
import type { RateLimiter } from '../../common/rate-limiter.ts'
import { TDES_MAX_BYTES_PER_KEY } from '../../common/crypto/tdes.ts'
import { parseHeader } from '../../common/wire/headers.ts'
import type { ParsedHeader } from '../../common/wire/headers.ts'
import type { SealedChannel } from '../transport/channel.ts'
import { ACK_TIMEOUT_MS, SESSION_MAX_AGE_MS, TDES_REKEY_BYTES } from '../constants.ts'
import type { Username } from '../../common/wire/names.ts'
import { patientTimer } from '../../common/patient-timeout.ts'
import type { PatientTimer } from '../../common/patient-timeout.ts'
import { StoreRemoved } from '../store/store.ts'

export interface SessionPeer {
  peerId: string
  username: Username
}

/** A message as it arrived on a session, its header parsed, its body not yet decoded. */
export interface SessionMessage {
  header: ParsedHeader
  headerBytes: Uint8Array
  id: Uint8Array
  body: Uint8Array
  /** The text this one follows in its conversation, if the sender named one (peer/arrival-order.ts). */
  after: Uint8Array | undefined
}

export interface DirectSessionOptions {
  channel: SealedChannel
  peer: SessionPeer
  /** Store what arrived; resolving ACKs it, a ParleyError refuses it with its code. */
  onMessage: (from: SessionPeer, message: SessionMessage) => Promise<void>
  /** Messages per sender: waited on, never refused (see above). */
  limiter: RateLimiter
  /** A message of the remote's was refused (not a member, …): the user should know. */
  onRefused: (from: SessionPeer, error: ParleyError) => void
  /** The remote stopped acknowledging and the session ended for it (the connection under it is
   * presumed dead too). */
  onStalled?: (peer: SessionPeer) => void
}

/** Refusals that end the session: the remote broke the protocol, not a rule of ours. (A group
 * text that does not open under the group key is refused alone: the session itself is sound.) */
const FATAL = new Set<string>([ErrorCode.Malformed, ErrorCode.TooLarge, ErrorCode.Protocol])

interface Waiter {
  resolve: () => void
  reject: (err: ParleyError) => void
}

const idKey = (id: Uint8Array): string => Buffer.from(id).toString('hex')

export class DirectSession {
  readonly peer: SessionPeer
  readonly #channel: SealedChannel
  readonly #onMessage: DirectSessionOptions['onMessage']
  readonly #limiter: RateLimiter
  /** Our messages in flight, by id. */
  readonly #waiting = new Map<string, Waiter>()
  /** Callers waiting for room in the window. */
  readonly #windowWaiters: Array<() => void> = []
  /** Writes go out one at a time, in the order they were asked for (sequence numbers). */
  #writes: Promise<void> = Promise.resolve()
  /** Outcomes of the remote's messages not yet acknowledged, in arrival order. */
  #unacked: Array<Promise<{ id: Uint8Array, refusal?: Refusal }>> = []
  #acking = false
  readonly #roomWaiters: Array<() => void> = []
  #sentEnd = false
  #receivedEnd = false
  #closing = false
  #failure: ParleyError | undefined
  readonly #onRefused: DirectSessionOptions['onRefused']
  readonly #onStalled: DirectSessionOptions['onStalled']
  #ackWatch: PatientTimer | undefined
  readonly #ageTimer: NodeJS.Timeout
  readonly #ended: Promise<void>
  #end!: () => void

  constructor (options: DirectSessionOptions) {
    this.peer = options.peer
    this.#channel = options.channel
    this.#onMessage = options.onMessage
    this.#limiter = options.limiter
    this.#onRefused = options.onRefused
    this.#onStalled = options.onStalled
    this.#ended = new Promise(resolve => { this.#end = resolve })
    this.#ageTimer = setTimeout(() => { this.#retire() }, SESSION_MAX_AGE_MS)
    this.#ageTimer.unref()
  }

  /** Open for new messages: not failed, not retiring, its key budget and age not used up. */
  get usable (): boolean {
    return this.#failure === undefined && !this.#sentEnd && !this.#receivedEnd
  }

  /** When the session has ended (either side closed, failed or retired). */
  get ended (): Promise<void> {
    return this.#ended
  }

  /** Wait until one more message fits in the window (resolves at once while it does). */
  async room (): Promise<void> {
    while (this.#waiting.size >= SESSION_WINDOW && this.usable) {
      await new Promise<void>(resolve => { this.#windowWaiters.push(resolve) })
    }
  }

  /**
   * Post one message; resolves once the remote stored it (its ack), rejects with the remote's
   * refusal or ERR_UNREACHABLE if the session ends first. Posting is synchronous up to the
   * write queue, so messages posted one after another arrive in that order.
   */
  async post (headerBytes: Uint8Array, id: Uint8Array, body: Uint8Array, onWritten?: () => void, after?: Uint8Array): Promise<void> {
    if (!this.usable) throw this.#failure ?? new ParleyError(ErrorCode.Unreachable, 'the session to ' + this.peer.username + ' is closing')
    const key = idKey(id)
    // Its first posting settles it (acked, or failed and queued again): not a reason to drop it.
    if (this.#waiting.has(key)) throw new ParleyError(ErrorCode.Conflict, 'that message is already in flight', { retryable: true })
    const acked = new Promise<void>((resolve, reject) => { this.#waiting.set(key, { resolve, reject }) })
    this.#armAckWatch()
    this.#write(after === undefined ? { t: 'm', h: headerBytes, id, b: body } : { t: 'm', h: headerBytes, id, b: body, p: after }).then(() => {
      onWritten?.()
      if (this.#channel.sentBytes >= TDES_REKEY_BYTES) this.#retire()
    }, () => {})
    return await acked
  }

  /**
   * Read and serve the remote's frames until the session ends. Resolves then, with what ended
   * it if that was not a normal end (it has been given to every message in flight too).
   */
  async run (): Promise<ParleyError | undefined> {
    try {
      for (;;) {
        if (this.#receivedEnd && this.#sentEnd && this.#waiting.size === 0 && this.#unacked.length === 0 && !this.#acking) break
        let plain: Uint8Array
        try {
          plain = await this.#channel.receivePlain()
        } catch (err) {
          // The remote closing after both ends were said is the normal end of a retired session.
          if (this.#receivedEnd && this.#sentEnd && this.#waiting.size === 0) break
          throw err
        }
        if (this.#channel.receivedBytes > TDES_MAX_BYTES_PER_KEY) {
          throw new ParleyError(ErrorCode.Protocol, 'the remote sealed more than one 3DES key may (2^20 blocks) without re-keying')
        }
        await this.#serve(decodeSessionFrame(plain))
      }
      await this.#writes
      await this.#closeOurHalf()
    } catch (err) {
      // A breach found while serving a message has already set the failure; a read that then
      // fails on the aborted stream must not hide it.
      this.#fail(asParleyError(err))
      this.#channel.framed.abort(err)
    } finally {
      this.#fail(new ParleyError(ErrorCode.Unreachable, `the session with ${this.peer.username} ended`))
    }
    return this.#failure?.code === ErrorCode.Unreachable ? undefined : this.#failure
  }

  /** End the session now (sign-out, shutdown): messages in flight fail and are retried later. */
  abort (reason: string): void {
    const error = new ParleyError(ErrorCode.Unreachable, reason)
    this.#fail(error)
    this.#channel.framed.abort(error)
  }

  async #serve (frame: SessionFrame): Promise<void> {
    switch (frame.t) {
      case 'a':
        this.#armAckWatch(true)
        for (const id of frame.ok) this.#settle(id)
        for (const refusal of frame.no) this.#settle(refusal.id, refusalError(refusal))
        return
      case 'x':
        this.#receivedEnd = true
        this.#retire()
        return
      case 'm': {
        if (this.#receivedEnd) throw new ParleyError(ErrorCode.Protocol, 'a message after the session ended')
        // Backpressure: the sender's budget and our window of unstored messages.
        const wait = this.#limiter.delay(this.peer.peerId)
        if (wait > 0) await sleep(wait)
        while (this.#unacked.length >= SESSION_WINDOW) await new Promise<void>(resolve => { this.#roomWaiters.push(resolve) })
        const id = frame.id
        const outcome = this.#handle(frame.h, id, frame.b, frame.p).then(
          () => ({ id }),
          (err: unknown) => {
            const error = asParleyError(err)
            // A message that does not decode or authenticate is a broken or hostile sender:
            // reported once, and the session ends (as any stream that breaks the protocol).
            if (FATAL.has(error.code)) this.#breach(error)
            else if (error.code !== ErrorCode.Unreachable) this.#onRefused(this.peer, error)
            return { id, refusal: { id, code: error.code, why: refusalWhy(error).slice(0, 200) } }
          })
        this.#unacked.push(outcome)
        if (!this.#acking) void this.#ackLoop()
      }
    }
  }

  /** End the session for a protocol breach by the remote: `run` returns this error. */
  #breach (error: ParleyError): void {
    if (this.#failure !== undefined) return
    this.#fail(error)
    this.#channel.framed.abort(error)
  }

  async #handle (headerBytes: Uint8Array, id: Uint8Array, body: Uint8Array, after: Uint8Array | undefined): Promise<void> {
    const header = parseHeader(headerBytes)
    await this.#onMessage(this.peer, { header, headerBytes, id, body, after })
  }

  /** Acknowledge what has been stored, a batch per frame: all that arrived meanwhile. */
  async #ackLoop (): Promise<void> {
    this.#acking = true
    try {
      while (this.#unacked.length > 0 && this.#failure === undefined) {
        // Let the frames of this read join the batch (and so its group commit).
        await new Promise(resolve => setImmediate(resolve))
        const batch = this.#unacked.slice(0, MAX_ACKS_PER_FRAME)
        const outcomes = await Promise.all(batch)
        void this.#unacked.splice(0, batch.length) // settled: awaited just above
        for (const wake of this.#roomWaiters.splice(0)) wake()
        const ok = outcomes.filter(o => o.refusal === undefined).map(o => o.id)
        const no = outcomes.flatMap(o => o.refusal === undefined ? [] : [o.refusal])
        await this.#write({ t: 'a', ok, no })
      }
    } catch (err) {
      this.#fail(asParleyError(err))
      this.#channel.framed.abort(err)
    } finally {
      this.#acking = false
    }
    this.#closeIfDone()
  }

  #settle (id: Uint8Array, error?: ParleyError): void {
    const key = idKey(id)
    const waiter = this.#waiting.get(key)
    if (waiter === undefined) return // an ack for nothing we sent: ignored, it changes nothing
    this.#waiting.delete(key)
    if (error === undefined) waiter.resolve()
    else waiter.reject(error)
    this.#windowWaiters.shift()?.()
    if (this.#waiting.size === 0) this.#disarmAckWatch()
    this.#closeIfDone()
  }

  /** Stop posting here: say end once; the session closes when both have and all is settled. */
  #retire (): void {
    if (this.#sentEnd || this.#failure !== undefined) return
    this.#sentEnd = true
    for (const wake of this.#windowWaiters.splice(0)) wake()
    // A failed write has already failed the session (#write): nothing more to report here.
    this.#write({ t: 'x' }).catch(() => {})
    this.#closeIfDone()
  }

  #closeIfDone (): void {
    if (!(this.#sentEnd && this.#receivedEnd) || this.#waiting.size > 0 || this.#unacked.length > 0 || this.#acking) return
    // Closing our half lets the remote's read end; the remote does the same for ours.
    // Both ends were said: a close that fails meets a stream already closed or aborted.
    this.#writes.then(async () => { await this.#closeOurHalf() }).catch(() => {})
  }

  async #closeOurHalf (): Promise<void> {
    if (this.#closing) return
    this.#closing = true
    await this.#channel.framed.close()
  }

  #write (frame: SessionFrame): Promise<void> {
    const next = this.#writes.then(async () => {
      if (this.#failure !== undefined) throw this.#failure
      await this.#channel.send(frame)
    })
    this.#writes = next.catch((err: unknown) => {
      this.#fail(asParleyError(err))
      this.#channel.framed.abort(err)
    })
    return next
  }

  /** A session whose remote stops acknowledging (while we wait for acks) is presumed dead; not
   * one whose acks wait unread behind our own stalled event loop (common/patient-timeout.ts). */
  #armAckWatch (progress = false): void {
    if (this.#ackWatch !== undefined && !progress) return
    this.#ackWatch?.cancel()
    this.#ackWatch = patientTimer(ACK_TIMEOUT_MS, () => {
      if (this.#waiting.size === 0) return
      this.abort(`${this.peer.username} stopped acknowledging`)
      this.#onStalled?.(this.peer)
    })
  }

  #disarmAckWatch (): void {
    this.#ackWatch?.cancel()
    this.#ackWatch = undefined
  }

  #fail (error: ParleyError): void {
    if (this.#failure === undefined) this.#failure = error
    clearTimeout(this.#ageTimer)
    this.#disarmAckWatch()
    for (const waiter of this.#waiting.values()) waiter.reject(this.#failure)
    this.#waiting.clear()
    for (const wake of this.#windowWaiters.splice(0)) wake()
    for (const wake of this.#roomWaiters.splice(0)) wake()
    this.#end()
  }
}

/** A refusal's reason in the sender's terms. Our own sign-in at the rendezvous being renewed is
 * said so: its message tells our person what to do ("try again in a moment"), and reached the
 * sender's `queued` line as theirs (round 14). */
function refusalWhy (error: ParleyError): string {
  if (error.code === ErrorCode.NotSignedIn) return 'the recipient is signing in to its rendezvous again'
  // Our folders are none of the sender's business (peer/files/disk.ts reasonOf).
  if (error.cause instanceof StoreRemoved) return 'its local store was removed while it ran; it takes nothing until it is started again'
  return error.message
}
