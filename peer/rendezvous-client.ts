/**
 * The peer's side of the rendezvous protocols (common/protocol/rendezvous.ts): requests, each with
 * a timeout, on streams kept open for the next request when the server speaks 1.1.0 (else one
 * stream per request, closed when done); and the events subscription.
 * Server errors come back as RendezvousError (a ParleyError with the server's code and message).
 */
import { keepLatest } from '../common/latest-kept.ts'
import { setMaxListeners } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import type { AbortOptions, Connection, Logger, PeerId, Stream } from '@libp2p/interface'
import { CODE_P2P, multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { KdfParams } from '../common/crypto/password.ts'
import { ErrorCode, ErrorMark, ParleyError, asParleyError, is } from '../common/errors.ts'
import type { ParleyNode } from '../common/node.ts'
import {
  EVENTS_PROTOCOL, EVENTS_SILENCE_LIMIT_MS, MAX_RESPONSE_BYTES, RENDEZVOUS_PROTOCOL, RENDEZVOUS_REQUESTS_PROTOCOL, REQUEST_STREAM_IDLE_MS,
  decodeEvent, decodeResponse, decodeSubscribed, encodeRequest, encodeSubscribe
} from '../common/protocol/rendezvous.ts'
import { RendezvousError } from '../common/protocol/rendezvous.ts'
import type { Op, RendezvousEvent, RequestArgs, Result } from '../common/protocol/rendezvous.ts'
import { FramedStream } from '../common/wire/frames.ts'
import { Queue } from '@libp2p/utils'
import { patientTimeout } from '../common/patient-timeout.ts'
import { refusedByRate } from '../common/rate-limiter.ts'
import { answeredByAnother, dialFailure } from './transport/dial.ts'

export type { RendezvousEvent } from '../common/protocol/rendezvous.ts'

/** A request that has not been answered in 15 s has failed (the server drops stalled streams
 * after 10 s, so this is never shorter than the server's own patience). */
const REQUEST_TIMEOUT_MS = 15_000
/** Requests in flight per client: half the server's MAX_INBOUND_REQUEST_STREAMS (16), leaving
 * room for the events stream and a second client on the same connection. */
const MAX_REQUESTS_IN_FLIGHT = 8
/** An idle 1.1.0 request stream is closed after this long: a third of the server's patience
 * (REQUEST_STREAM_IDLE_MS), so a request is never written to a stream the server is closing. */
const REQUEST_STREAM_KEEP_MS = REQUEST_STREAM_IDLE_MS / 3
/** A request the server's rate limit refused is made again after 100 ms, doubling, at most 5
 * times (3.1 s in all): the server refills 50 requests a second (rendezvous/constants.ts), so the
 * first pause alone makes room for a few. A burst beyond that is the caller's to pace. */
const RATE_RETRY_FIRST_MS = 100
const RATE_RETRIES = 5

export type SaltResult = Result<'salt'>
export type SignupResult = Result<'signup'>
export type RekeyResult = Result<'rekey'>
export type SigninResult = Result<'signin'>
export type LookupResult = Result<'lookup'>
export type WhoisResult = Result<'whois'>
export type WhoResult = Result<'who'>
export type ListResult = Result<'list'>
export type CreateResult = Result<'create'>
export type JoinResult = Result<'join'>
export type LeaveResult = Result<'leave'>
export type MembersResult = Result<'members'>
export type RotateResult = Result<'rotate'>
export type PutKeyResult = Result<'put-key'>
export type GetKeysResult = Result<'get-keys'>
export type GroupsResult = Result<'groups'>

export interface SignupArgs {
  username: string
  salt: Uint8Array
  /** The scrypt parameters the salt goes with (common/crypto/password.ts KDF_PARAMS). */
  kdf: KdfParams
  authKey: Uint8Array
  /** The user's libp2p private key wrapped under the wrapKey (opaque to the server). */
  identity: Uint8Array
  /** This peer's listen multiaddrs (wildcard hosts are rewritten by the server). */
  addrs: string[]
}

export interface RekeyArgs {
  /** From the current salt and parameters: proves the password again. */
  authKey: Uint8Array
  salt: Uint8Array
  kdf: KdfParams
  /** From the new salt and parameters. */
  newAuthKey: Uint8Array
  /** The account key wrapped under the new wrapKey. */
  dataKey: Uint8Array
}

export interface SigninArgs {
  username: string
  authKey: Uint8Array
  addrs: string[]
  /** Signing in again by ourselves (the rendezvous came back), not a person's LOGIN: the ticket
   * of our last sign-in goes with it, and a person's sign-in since refuses it (ERR_CONFLICT). */
  resume?: boolean
}

/** Accounts whose tickets are kept: a peer signs in as a handful. */
const MAX_TICKETS_KEPT = 64
/** How long a new connection may take to answer the path check's request (#checkPath). */
const PATH_CHECK_MS = 10_000
/** A rendezvous found by mDNS and out of reach where it was is looked for again at most this
 * often (each look is 2 s of mDNS: #relocated). */
const RELOCATE_EVERY_MS = 20_000
/** After a new connection answered the path check, how long the old one still has to answer. */
const OLD_PATH_GRACE_MS = 3_000
/** The name the path check asks the salt of: any name is answered (an unknown one with fake
 * parameters), and this one is nobody's to find. */
const PATH_CHECK_NAME = 'parley-path-check'

export class RendezvousClient {
  readonly #node: ParleyNode
  /** The ticket of each account's latest sign-in here (SigninArgs.resume). */
  readonly #tickets = new Map<string, Uint8Array>()
  readonly #log: Logger
  readonly #requestTimeoutMs: number
  readonly #inFlight = new Queue<unknown>({ concurrency: MAX_REQUESTS_IN_FLIGHT })
  /** Our sign-in was refused for good (signInRefused). */
  #refused = false
  /** Our session there ended (it restarted, the network dropped) and we are signing in again:
   * its "sign in first" meanwhile is said as that (see signingInAgain). */
  #renewing = false
  /** 1.1.0 request streams between requests (at most MAX_REQUESTS_IN_FLIGHT), the newest last. */
  readonly #idle: Array<{ framed: FramedStream, timer: NodeJS.Timeout }> = []
  #server: Multiaddr

  readonly #onIdentified: ((server: Multiaddr) => void) | undefined
  /** The path check under way (#checkPath), at most one. */
  #checkingPath: Promise<void> | undefined
  /** Where the rendezvous is now, asked again (mDNS) when it cannot be reached (#relocated). */
  readonly #relocate: (() => Promise<Multiaddr | undefined>) | undefined
  #relocatedAt = -Infinity

  /** `server` should end in /p2p/<id>; without it the id is learnt on first contact, and
   * `onIdentified` is given the address with it. `requestTimeoutMs`: how long a request may wait
   * for its answer (tests shorten it). */
  constructor (node: ParleyNode, server: Multiaddr, requestTimeoutMs = REQUEST_TIMEOUT_MS, onIdentified?: (server: Multiaddr) => void, relocate?: () => Promise<Multiaddr | undefined>) {
    this.#node = node
    this.#server = server
    this.#requestTimeoutMs = requestTimeoutMs
    this.#onIdentified = onIdentified
    this.#relocate = relocate
    this.#log = node.logger.forComponent('parley:rendezvous-client')
  }

  /** The server's address (with /p2p/<id> once known). */
  get server (): Multiaddr {
    return this.#server
  }

  /** The server's peer id, once known: the issuer of the name cards we accept. */
  get serverPeerId (): string | undefined {
    return peerIdOf(this.#server)
  }

  /** Our name card (common/crypto/name-card.ts), signed by the server; needs a sign-in. */
  async card (options?: AbortOptions): Promise<Uint8Array> {
    return (await this.#request('card', {}, options)).card
  }

  /** Connect to the server (learning its peer id if the address had none) and return its id. */
  async connect (options?: AbortOptions): Promise<PeerId> {
    const signal = withTimeout(this.#requestTimeoutMs, options?.signal)
    try {
      const connection = await this.#node.dial(this.#server, { signal })
      if (peerIdOf(this.#server) === undefined) {
        this.#server = this.#server.encapsulate(`/p2p/${connection.remotePeer.toString()}`)
        this.#onIdentified?.(this.#server)
      }
      return connection.remotePeer
    } catch (err) {
      throw unreachable(this.#server, err)
    }
  }

  async salt (username: string, options?: AbortOptions): Promise<Uint8Array> {
    return (await this.#request('salt', { username }, options)).salt
  }

  /** A username's salt with its scrypt parameters (an unknown name gets fake ones). */
  async saltOf (username: string, options?: AbortOptions): Promise<SaltResult> {
    return await this.#request('salt', { username }, options)
  }

  /** Raise the signed-in account's scrypt cost (peer/account.ts). */
  async rekey (args: RekeyArgs, options?: AbortOptions): Promise<RekeyResult> {
    return await this.#request('rekey', args, options)
  }

  async signup (args: SignupArgs, options?: AbortOptions): Promise<SignupResult> {
    const result = await this.#request('signup', args, options)
    this.#keepTicket(args.username, result.ticket)
    this.#refused = false
    return result
  }

  async signin (args: SigninArgs, options?: AbortOptions): Promise<SigninResult> {
    const { resume, ...request } = args
    const ticket = resume === true ? this.#tickets.get(args.username) : undefined
    const result = await this.#request('signin', ticket === undefined ? request : { ...request, resume: ticket }, options)
      .catch(async (err: unknown) => {
        // A rendezvous from before tickets does not know the field: as before them.
        if (ticket === undefined || !is(err, ErrorCode.Malformed)) throw err
        return await this.#request('signin', request, options)
      })
    this.#keepTicket(args.username, result.ticket)
    this.#refused = false
    this.#renewing = false
    return result
  }

  /** The ticket of a sign-in, kept for signing in again by ourselves (SigninArgs.resume). */
  #keepTicket (username: string, ticket: Uint8Array | undefined): void {
    if (ticket !== undefined) keepLatest(this.#tickets, username, ticket, MAX_TICKETS_KEPT)
  }

  /** We are signing in again by ourselves (peer/session.ts, #reconnect): until that succeeds, the
   * rendezvous's bare "sign in first" to a command is said as the passing state it is. Until
   * 2026-12-06 a LIST in the seconds after the rendezvous came back said "sign in first" under a
   * prompt that names the user (a tester's finding). */
  signingInAgain (): void {
    this.#renewing = true
  }

  /** The rendezvous refused our sign-in for good (it lost the account; the password or identity
   * changed): its "sign in first" to what we ask from then on is said as that, under a prompt
   * that still names the user (it read as a contradiction: a tester's finding, until
   * 2026-12-06). Until a sign-in succeeds. */
  signInRefused (): void {
    this.#refused = true
  }

  async lookup (username: string, options?: AbortOptions): Promise<LookupResult> {
    return await this.#request('lookup', { username }, options)
  }

  /** The user behind a peer id (e.g. the authenticated remote peer of an incoming stream). */
  async whois (peerId: string, options?: AbortOptions): Promise<WhoisResult> {
    return await this.#request('whois', { peerId }, options)
  }

  async who (options?: AbortOptions): Promise<WhoResult> {
    return await this.#request('who', {}, options)
  }

  async list (options?: AbortOptions): Promise<ListResult> {
    return await this.#request('list', {}, options)
  }

  async create (group: string, options?: AbortOptions): Promise<CreateResult> {
    return await this.#request('create', { group }, options)
  }

  async join (group: string, options?: AbortOptions): Promise<JoinResult> {
    return await this.#request('join', { group }, options)
  }

  async leave (group: string, options?: AbortOptions): Promise<LeaveResult> {
    return await this.#request('leave', { group }, options)
  }

  async members (group: string, options?: AbortOptions): Promise<MembersResult> {
    return await this.#request('members', { group }, options)
  }

  /** Compare-and-set the group's key epoch from `fromEpoch` to `fromEpoch + 1`. A lost race is a
   * RendezvousError with code ERR_CONFLICT and `epoch` = the group's current epoch. */
  async rotate (group: string, fromEpoch: number, wrapped: Uint8Array, proof: { commitment: Uint8Array, signature: Uint8Array }, options?: AbortOptions): Promise<RotateResult> {
    return await this.#request('rotate', { group, fromEpoch, wrapped, ...proof }, options)
  }

  async putKey (group: string, epoch: number, wrapped: Uint8Array, options?: AbortOptions): Promise<PutKeyResult> {
    return await this.#request('put-key', { group, epoch, wrapped }, options)
  }

  async getKeys (group: string, options?: AbortOptions): Promise<GetKeysResult> {
    return await this.#request('get-keys', { group }, options)
  }

  async groups (options?: AbortOptions): Promise<GroupsResult> {
    return await this.#request('groups', {}, options)
  }

  /** How long ago each member of the group joined (members only; a rendezvous from before
   * 2026-12-07 refuses it, ERR_MALFORMED). */
  async joinTimes (group: string, options?: AbortOptions): Promise<Result<'join-times'>> {
    return await this.#request('join-times', { group }, options)
  }

  /**
   * Open the events stream (after signing in). Resolves once the server accepted the
   * subscription; events then arrive through `onEvent`, and when the stream ends for any reason
   * (server closed it, connection lost, `signal` aborted) `onEvent({ type: 'disconnected' })`
   * is called exactly once.
   */
  async subscribe (onEvent: (event: RendezvousEvent) => void, signal?: AbortSignal): Promise<void> {
    const setup = withTimeout(this.#requestTimeoutMs, signal)
    const framed = new FramedStream(await this.#open(EVENTS_PROTOCOL, setup), MAX_RESPONSE_BYTES)
    let answer: Uint8Array | undefined
    try {
      await framed.write(encodeSubscribe(), { signal: setup })
      answer = await framed.read({ signal: setup })
      decodeSubscribed(answer)
    } catch (err) {
      // Refused (an error answer, then the server closes) or failed (abort).
      if (answer !== undefined) await framed.close({ signal: setup })
      else framed.abort(err)
      throw err
    }
    void this.#readEvents(framed, onEvent, signal)
  }

  async #readEvents (framed: FramedStream, onEvent: (event: RendezvousEvent) => void, signal?: AbortSignal): Promise<void> {
    let failure: unknown
    try {
      for (;;) {
        const event = decodeEvent(await this.#readWithin(framed, signal))
        if (event.type === 'ping') continue
        try {
          onEvent(event)
        } catch (err) {
          this.#log.error('event callback failed: %s', asParleyError(err).message)
        }
      }
    } catch (err) {
      // The server closing the stream (session replaced, server stopping) is a normal end.
      if (!(err instanceof ParleyError && err.code === ErrorCode.Protocol)) failure = err
    } finally {
      if (failure === undefined) await framed.close({ signal: patientTimeout(REQUEST_TIMEOUT_MS) })
      else framed.abort(failure)
      try {
        onEvent({ type: 'disconnected' })
      } catch (err) {
        this.#log.error('event callback failed: %s', asParleyError(err).message)
      }
    }
  }

  /** The next event frame, or an error once the server has said nothing, not even its
   * heartbeat, for EVENTS_SILENCE_LIMIT_MS: then the connection is taken as dead and closed,
   * so the reconnect that follows dials a new one instead of reusing a socket nobody answers. */
  async #readWithin (framed: FramedStream, signal?: AbortSignal): Promise<Uint8Array> {
    const silence = patientTimeout(EVENTS_SILENCE_LIMIT_MS)
    try {
      return await framed.read({ signal: signal === undefined ? silence : AbortSignal.any([signal, silence]) })
    } catch (err) {
      if (!silence.aborted || signal?.aborted === true) throw err
      const dead = new ParleyError(ErrorCode.Unreachable, `the rendezvous said nothing for ${EVENTS_SILENCE_LIMIT_MS / 1000} s`)
      for (const connection of this.#serverConnections()) connection.abort(dead)
      throw dead
    }
  }

  /** At most MAX_REQUESTS_IN_FLIGHT at once, the rest queued: the server refuses more request
   * streams than that per connection (a group send to 17+ members once lost the extra look-ups). */
  async #request<O extends Op> (op: O, args: RequestArgs<O>, options?: AbortOptions): Promise<Result<O>> {
    try {
      return await this.#inFlight.add(async () => await this.#exchangePatiently(op, args, options)) as Result<O>
    } catch (err) {
      if (this.#refused && is(err, ErrorCode.NotSignedIn)) {
        throw new RendezvousError(ErrorCode.NotSignedIn, 'the rendezvous no longer accepts your sign-in: LOGIN again, or SIGNUP if it lost your account (known contacts are still reached directly)')
      }
      if (this.#renewing && is(err, ErrorCode.NotSignedIn)) {
        throw new SigningInAgain()
      }
      throw err
    }
  }

  /**
   * The server's rate limit is back-pressure, not a failure of the command that needed the
   * answer: the request is made again after a pause (the server refused it before looking at it,
   * so that is always safe). It waits in its slot, so the requests queued behind it wait too
   * instead of meeting the same refusal. Until 2026-12-06 the refusal went to the person.
   */
  async #exchangePatiently<O extends Op> (op: O, args: RequestArgs<O>, options?: AbortOptions): Promise<Result<O>> {
    for (let retry = 0; ; retry++) {
      try {
        return await this.#exchange(op, args, options)
      } catch (err) {
        if (!refusedByRate(err) || retry >= RATE_RETRIES) throw err
        const pause = RATE_RETRY_FIRST_MS * 2 ** retry
        this.#log('%s refused by the rate limit; asking again in %d ms', op, pause)
        await sleep(pause, undefined, { signal: options?.signal })
      }
    }
  }

  /** One request: on an idle kept stream or a new one, write the request, read the answer; then
   * keep the stream for the next request (1.1.0), or close it. */
  async #exchange<O extends Op> (op: O, args: RequestArgs<O>, options?: AbortOptions): Promise<Result<O>> {
    options?.signal?.throwIfAborted()
    // The deadline starts when the request does, not while it waits its turn.
    const signal = withTimeout(this.#requestTimeoutMs, options?.signal)
    let framed = this.#takeIdle()
    let answer: Uint8Array | undefined
    let sent = false
    try {
      framed ??= new FramedStream(await this.#open([RENDEZVOUS_REQUESTS_PROTOCOL, RENDEZVOUS_PROTOCOL], signal), MAX_RESPONSE_BYTES)
      await framed.write(encodeRequest(op, args), { signal })
      sent = true
      answer = await framed.read({ signal })
    } catch (err) {
      // Connected, but no answer in time (a rendezvous frozen, or swamped): said as the
      // rendezvous's silence, not a bare "timed out" (round 13), also where it was a new request
      // stream that went unanswered ("cannot reach the rendezvous … (no answer in time)" while
      // connected to it: round 15).
      if (signal.aborted && options?.signal?.aborted !== true && (framed !== undefined || this.#connected())) {
        const silent = new ParleyError(ErrorCode.Unreachable, `the rendezvous did not answer within ${this.#requestTimeoutMs / 1000} s`, { cause: err })
        this.#checkPath()
        throw sent ? unansweredRequests.add(silent) : silent
      }
      // Sent, and the stream or connection ended before an answer: the rendezvous may have read
      // and done it all the same (round 45: a LEAVE it did was said certainly not done).
      if (sent && options?.signal?.aborted !== true && (is(err, ErrorCode.Unreachable) || is(err, ErrorCode.Protocol))) {
        throw unansweredRequests.add(new ParleyError(ErrorCode.Unreachable, 'the connection to the rendezvous ended before it answered', { cause: err }))
      }
      throw err
    } finally {
      // (No stream at all where it could not be opened.)
      if (answer === undefined) framed?.abort(new ParleyError(ErrorCode.Unreachable, `${op} request failed`))
      else if (framed?.stream.protocol === RENDEZVOUS_REQUESTS_PROTOCOL) this.#keep(framed)
      // 1.0.0: the server closes after its one answer: close ours too.
      else await framed?.close({ signal })
    }
    return decodeResponse(op, answer)
  }

  /** The newest kept stream still open both ways, if any (dead ones met on the way are dropped). */
  #takeIdle (): FramedStream | undefined {
    for (let kept = this.#idle.pop(); kept !== undefined; kept = this.#idle.pop()) {
      clearTimeout(kept.timer)
      const { stream } = kept.framed
      if (stream.status === 'open' && stream.writeStatus === 'writable' && stream.remoteWriteStatus === 'writable') return kept.framed
      kept.framed.abort(new Error('the rendezvous closed the request stream'))
    }
    return undefined
  }

  #keep (framed: FramedStream): void {
    // Not reached while every request goes through #inFlight (kept + running <= its concurrency);
    // the bound stays so that the number of open streams does not rest on that alone.
    if (this.#idle.length >= MAX_REQUESTS_IN_FLIGHT) {
      void framed.close()
      return
    }
    const kept = {
      framed,
      timer: setTimeout(() => {
        const at = this.#idle.indexOf(kept)
        if (at !== -1) this.#idle.splice(at, 1)
        void framed.close()
      }, REQUEST_STREAM_KEEP_MS)
    }
    kept.timer.unref()
    this.#idle.push(kept)
  }

  /** Our connections to the rendezvous (none while its peer id is not known). */
  #serverConnections (): Connection[] {
    const server = peerIdOf(this.#server)
    return server === undefined ? [] : this.#node.getConnections().filter(connection => connection.remotePeer.toString() === server)
  }

  /**
   * A request went unanswered: a rendezvous frozen or swamped, or a connection whose path died
   * without a word (a laptop moved to another network, a home router restarted and lost its
   * mapping), which only the events stream's 90 s of silence ended (round 50: a peer cut off for
   * 90 s after each move, and not told). A new connection is dialled and asked the cheapest
   * request; answered there, the connections before it are taken as dead and ended, and the
   * reconnect that follows signs in again on the new one, seconds after the move. A frozen or
   * swamped rendezvous answers a new connection no sooner than the old one, which then stays.
   */
  #checkPath (): void {
    if (this.#checkingPath !== undefined) return
    this.#checkingPath = this.#newPathAnswers()
      .catch((err: unknown) => { this.#log('the path check found no other way to the rendezvous: %s', asParleyError(err).message) })
      .finally(() => { this.#checkingPath = undefined })
  }

  async #newPathAnswers (): Promise<void> {
    const before = this.#serverConnections()
    const old = before[0]
    if (old === undefined) return
    // Asked on the old connection too, at once: a rendezvous that was frozen, and has thawed,
    // answers there as soon as on the new one, and the old one stays (its session with it).
    const oldAnswers = answersOn(old, AbortSignal.timeout(PATH_CHECK_MS + OLD_PATH_GRACE_MS)).then(() => true, () => false)
    const signal = AbortSignal.timeout(PATH_CHECK_MS)
    const fresh = await this.#node.dial(this.#server, { force: true, signal })
    let dead = false
    try {
      await answersOn(fresh, signal)
      dead = !await Promise.race([oldAnswers, sleep(OLD_PATH_GRACE_MS).then(() => false)])
    } finally {
      if (!dead) await fresh.close().catch(() => {})
    }
    if (!dead) return
    const reason = new ParleyError(ErrorCode.Unreachable, 'the rendezvous answers on a new connection and not on this one: taken as dead')
    this.#log('the rendezvous answered on a new connection only: ending the %d before it', before.length)
    for (const connection of before) if (connection.id !== fresh.id) connection.abort(reason)
  }

  /** Whether a connection to the rendezvous is open. */
  #connected (): boolean {
    return this.#serverConnections().some(connection => connection.status === 'open')
  }

  async #open (protocol: string | string[], signal: AbortSignal): Promise<Stream> {
    if (peerIdOf(this.#server) === undefined) await this.connect({ signal })
    try {
      return await this.#node.dialProtocol(this.#server, protocol, { signal })
    } catch (err) {
      if (!await this.#relocated()) throw unreachable(this.#server, err)
    }
    try {
      return await this.#node.dialProtocol(this.#server, protocol, { signal })
    } catch (err) {
      throw unreachable(this.#server, err)
    }
  }

  /**
   * The rendezvous, found on the LAN (mDNS), cannot be reached where it was: asked for again, at
   * most every RELOCATE_EVERY_MS, for its machine may have another address now. True when it
   * answers elsewhere under the same peer id (no other node is taken for it). Until 2026-12-07 a
   * peer dialled the old address until it was restarted (round 50: 300 s and more).
   */
  async #relocated (): Promise<boolean> {
    if (this.#relocate === undefined || Date.now() - this.#relocatedAt < RELOCATE_EVERY_MS) return false
    this.#relocatedAt = Date.now()
    const found = await this.#relocate().catch(() => undefined)
    const id = peerIdOf(this.#server)
    if (found === undefined || id === undefined || peerIdOf(found) !== id || found.equals(this.#server)) return false
    this.#log('the rendezvous answers mDNS at %a, no longer at %a', found, this.#server)
    this.#server = found
    this.#onIdentified?.(found)
    return true
  }
}

/** Whether the rendezvous answers the cheapest request on `connection` (#checkPath). */
async function answersOn (connection: Connection, signal: AbortSignal): Promise<void> {
  const framed = new FramedStream(await connection.newStream(RENDEZVOUS_REQUESTS_PROTOCOL, { signal }), MAX_RESPONSE_BYTES)
  try {
    await framed.write(encodeRequest('salt', { username: PATH_CHECK_NAME }), { signal })
    decodeResponse('salt', await framed.read({ signal }))
  } finally {
    framed.abort(new Error('the path check is over'))
  }
}

/** Requests sent whose answer did not come in time: the rendezvous reads what it is sent, and a
 * frozen one does it once it thaws, so such a request may have been done (round 44: told "trip
 * was not joined", the member then got the group's messages). */
const unansweredRequests = new ErrorMark()

/** A request that went out and was not answered in time: it may have been done, or not. */
export function mayHaveBeenDone (err: unknown): boolean {
  return unansweredRequests.has(err)
}

/** The rendezvous out of reach, or our sign-in there not renewed yet: what it said last will do. */
export function rendezvousAway (err: unknown): boolean {
  return is(err, ErrorCode.Unreachable) || is(err, ErrorCode.NotSignedIn)
}

/** The rendezvous cannot be asked now: out of reach, or our sign-in there being renewed; not a
 * refusal of our sign-in, nor another node answering in its place, which are to be said as they
 * are. What a command can then show as last known (WHO). */
export function rendezvousOutOfReach (err: unknown): boolean {
  return err instanceof SigningInAgain || (is(err, ErrorCode.Unreachable) && !answeredByAnother(err.cause))
}

/** A request refused while our sign-in there is renewed (it was away), in a person's words for
 * the command that made it; the outbox, which tries again by itself, says it its own way. */
export class SigningInAgain extends RendezvousError {
  constructor () {
    super(ErrorCode.NotSignedIn, 'signing in to the rendezvous again (it was away): try again in a moment (known contacts are reached directly meanwhile)')
  }
}

function withTimeout (ms: number, signal?: AbortSignal): AbortSignal {
  const timeout = patientTimeout(ms)
  const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout])
  // libp2p adds a listener per layer (dial, upgrade, stream); not a leak.
  setMaxListeners(Infinity, combined)
  return combined
}

function unreachable (server: Multiaddr, err: unknown): ParleyError {
  if (answeredByAnother(err)) {
    // Noise's own words name two keys and no way out; this one says what happened and what to do
    // (the peer's start says which --rendezvous names the one that answers: rendezvous-pin.ts).
    const at = server.decapsulateCode(CODE_P2P).toString()
    return new ParleyError(ErrorCode.Unreachable, `another node answers at ${at} in place of the rendezvous this data folder knows (${peerIdOf(server) ?? '?'}): ` +
      'if the rendezvous really changed (restarted with a new identity), start this peer again to be told how to use it', { cause: err })
  }
  // In a few words where they are known ("connection refused"), not libp2p's (the whole error
  // stays in `cause`); the client keeps trying on its own (the `rendezvous` event says when).
  const why = dialFailure(err) ?? asParleyError(err).message
  return new ParleyError(ErrorCode.Unreachable, `cannot reach the rendezvous at ${server.decapsulateCode(CODE_P2P).toString()} (${why})`, { cause: err })
}

function peerIdOf (addr: Multiaddr): string | undefined {
  return addr.getComponents().findLast(component => component.code === CODE_P2P)?.value
}

const IPV4 = /^(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}$/
const HOSTNAME = /^(?=.{1,253}$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/

/**
 * A rendezvous address as a person types it: `host:port` (IPv4, `[IPv6]` or a host name) or a
 * full multiaddr (`/ip4/1.2.3.4/tcp/7000/p2p/12D3…`). Without /p2p/<id> the client learns the
 * server's id when it first connects.
 */
export function parseRendezvousAddress (text: string): Multiaddr {
  const input = text.trim()
  if (input.startsWith('/')) {
    try {
      return multiaddr(input)
    } catch (err) {
      throw new ParleyError(ErrorCode.Usage, `"${input.slice(0, 200)}" is not a valid multiaddr`, { cause: err })
    }
  }
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):([0-9]{1,5})$/.exec(input)
  const port = Number(match?.[3])
  if (match === null || port < 1 || port > 65535) {
    throw new ParleyError(ErrorCode.Usage, `rendezvous address "${input.slice(0, 200)}" must be host:port or a multiaddr`)
  }
  const [, ipv6, host = ''] = match
  try {
    if (ipv6 !== undefined) return multiaddr(`/ip6/${ipv6}/tcp/${port}`)
    if (IPV4.test(host)) return multiaddr(`/ip4/${host}/tcp/${port}`)
    if (HOSTNAME.test(host) && !/^[0-9.]+$/.test(host)) return multiaddr(`/dns4/${host}/tcp/${port}`)
  } catch (err) {
    throw new ParleyError(ErrorCode.Usage, `invalid rendezvous address "${input.slice(0, 200)}"`, { cause: err })
  }
  throw new ParleyError(ErrorCode.Usage, `invalid host in rendezvous address "${input.slice(0, 200)}"`)
}
