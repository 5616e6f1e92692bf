/**
 * The direct sessions of this peer, by remote peer id (issue 11). A message to a peer goes on
 * an open session with it, whichever side opened it; only when there is none does one open: a
 * `/parley/direct/1.0.0` stream with the signal header `SESSION` and a fresh X25519 exchange
 * (transport/channel.ts). Concurrent senders to the same peer share the one opening. A session
 * lives as long as its stream: a new connection, a sign-in (new node) or a re-key means a new
 * session and a new DH, as the customer asks ("a new key every session").
 */
import { ErrorCode, ParleyError, asParleyError } from '../../common/errors.ts'
import type { ParleyNode } from '../../common/node.ts'
import { peerIdFromString } from '@libp2p/peer-id'
import { RateLimiter } from '../../common/rate-limiter.ts'
import { formatHeader } from '../../common/wire/headers.ts'
import { acceptDirectChannel, initiateDirectChannel } from '../transport/channel.ts'
import { openStream } from '../transport/dial.ts'
import type { Dialable, Dialer } from '../transport/dial.ts'
import type { Inbound } from '../transport/inbound.ts'
import { DIRECT_PROTOCOL } from '../../common/protocol/peer.ts'
import type { SignedInUser } from '../signed-in.ts'
import { INBOUND_MESSAGES_BURST, INBOUND_MESSAGES_PER_SECOND, MAX_SESSIONS_OPENING, STEP_TIMEOUT_MS } from '../constants.ts'
import { DirectSession } from './session.ts'
import { OpeningSlots } from './opening-slots.ts'
import type { DirectSessionOptions, SessionMessage, SessionPeer } from './session.ts'
import { patientTimeout } from '../../common/patient-timeout.ts'

const SESSION_HEADER = formatHeader({ kind: 'SESSION' })

/** Sessions kept with one peer: both sides opening at once, one retiring while the next opens,
 * one on a connection about to be found dead. A new one past this ends the oldest: one account
 * opened 335 idle sessions (64 kB each, kept their hour) over connections of its own, and from
 * one address could have had 8,000 (round 46). */
const MAX_SESSIONS_PER_PEER = 4

export interface DirectSessionsOptions {
  node: Pick<ParleyNode, 'peerId'> & Dialer
  /** What arrived on a session of `user`'s: resolving ACKs it, a ParleyError refuses it. */
  onMessage: (user: SignedInUser, from: SessionPeer, message: SessionMessage) => Promise<void>
  /** A session with this peer opened (either side): what waits for it can go now. */
  onOpen: (peer: SessionPeer) => void
  /** Messages per sender per second and burst (the benchmark lifts them). */
  limits?: { perSecond: number, burst: number } | undefined
}

export class DirectSessions {
  readonly #options: DirectSessionsOptions
  readonly #limiter: RateLimiter
  readonly #byPeer = new Map<string, Set<DirectSession>>()
  /** Each signed-in user's open sessions, ended together at their sign-out by one abort
   * listener: one per session made every add and remove scan all the others (EventTarget keeps
   * a list), a cost per first contact that grew with the contacts. */
  readonly #byUser = new WeakMap<SignedInUser, Set<DirectSession>>()
  /** The opening under way per peer, and whether it may use the relay (Dialable.relay). */
  readonly #opening = new Map<string, { session: Promise<DirectSession>, relay: boolean }>()
  /** Openings run MAX_SESSIONS_OPENING at a time, but for those waiting on the other side
   * (opening-slots.ts); the others wait their turn. */
  readonly #openings = new OpeningSlots(MAX_SESSIONS_OPENING)
  #stopped = false

  constructor (options: DirectSessionsOptions) {
    this.#options = options
    this.#limiter = new RateLimiter({ ...(options.limits ?? { perSecond: INBOUND_MESSAGES_PER_SECOND, burst: INBOUND_MESSAGES_BURST }), maxKeys: 10_000 })
  }

  /** An open session with this peer that takes new messages, if there is one (no dial). */
  find (peerId: string): DirectSession | undefined {
    for (const session of this.#byPeer.get(peerId) ?? []) {
      if (session.usable) return session
    }
    return undefined
  }

  /** The session to post on: an open one, else a new one for `user` (one opening per peer at a
   * time). Every session belongs to the user signed in when it opened and ends at their sign-out. */
  async get (user: SignedInUser, to: Dialable): Promise<DirectSession> {
    for (;;) {
      if (this.#stopped || user.signal.aborted) throw new ParleyError(ErrorCode.Unreachable, 'signed out')
      const open = this.find(to.peerId)
      if (open !== undefined) return open
      let opening = this.#opening.get(to.peerId)
      if (opening === undefined) {
        const session = this.#openings.run(async () => await this.#open(user, to)).finally(() => { this.#opening.delete(to.peerId) })
        opening = { session, relay: to.relay !== false }
        this.#opening.set(to.peerId, opening)
      }
      let session: DirectSession
      try {
        session = await opening.session
      } catch (err) {
        // An opening ahead of any message, without the relay, failed: a message, which may use
        // the relay, opens its own instead of failing with it.
        if (opening.relay || to.relay === false) throw err
        continue
      }
      if (session.usable) return session
      // It retired or failed between opening and our turn: take or open the next one.
    }
  }

  async #open (user: SignedInUser, to: Dialable): Promise<DirectSession> {
    const framed = await openStream(this.#options.node, to, DIRECT_PROTOCOL)
    try {
      const signal = patientTimeout(STEP_TIMEOUT_MS)
      const { channel } = await initiateDirectChannel(framed, SESSION_HEADER, this.#options.node.peerId.toString(), to.peerId, { signal, card: user.nameCard() })
      const session = this.#session(user, channel, { peerId: to.peerId, username: to.username })
      void session.run().then(failure => { if (failure !== undefined) user.inbox.onInboundError(to.peerId, failure) })
      return session
    } catch (err) {
      framed.abort(err)
      const error = asParleyError(err)
      throw error.code === ErrorCode.Internal ? new ParleyError(ErrorCode.Unreachable, `${to.username} is not reachable right now`, { cause: err }) : error
    }
  }

  /** Serve an inbound `SESSION` stream: answer the handshake, then the session, until it ends. */
  async serve (user: SignedInUser, inbound: Inbound<{ kind: 'SESSION' }>): Promise<void> {
    const { channel, from: username } = await acceptDirectChannel(inbound.framed, inbound.headerBytes, this.#options.node.peerId.toString(), inbound.remotePeerId,
      async card => await user.inbox.senderOf(inbound.remotePeerId, card), { signal: inbound.signal })
    const failure = await this.#session(user, channel, { peerId: inbound.remotePeerId, username }).run()
    if (failure !== undefined) throw failure // serveInbound reports it
  }

  #session (user: SignedInUser, channel: DirectSessionOptions['channel'], peer: SessionPeer): DirectSession {
    const session = new DirectSession({
      channel,
      peer,
      onMessage: async (from, message) => { await this.#options.onMessage(user, from, message) },
      limiter: this.#limiter,
      onRefused: (from, error) => { user.inbox.onInboundError(from.peerId, error) },
      onStalled: stalled => { this.#hangUp(stalled) }
    })
    if (this.#stopped || user.signal.aborted) {
      session.abort('signed out')
      return session
    }
    const ofUser = this.#sessionsOf(user)
    ofUser.add(session)
    const set = this.#byPeer.get(peer.peerId) ?? new Set()
    const oldest = set.size >= MAX_SESSIONS_PER_PEER ? set.values().next().value : undefined
    if (oldest !== undefined) {
      set.delete(oldest) // at once: a burst of openings would each find it still there
      oldest.abort(`more than ${MAX_SESSIONS_PER_PEER} sessions with ${peer.username}: the oldest is closed`)
    }
    set.add(session)
    this.#byPeer.set(peer.peerId, set)
    void session.ended.then(() => {
      ofUser.delete(session)
      set.delete(session)
      if (set.size === 0 && this.#byPeer.get(peer.peerId) === set) this.#byPeer.delete(peer.peerId)
    })
    this.#options.onOpen(peer)
    return session
  }

  /**
   * A peer that stopped acknowledging: its connections go too, so that the next try dials the
   * address the directory gives now. Kept, a connection to a process that froze (a laptop asleep)
   * took every retry, while its user, signed in on another device since, got nothing (round 46:
   * 0 of 1,225 texts in 40 s): libp2p reuses an open connection to a peer id, and both devices
   * hold the account's identity.
   */
  #hangUp (peer: SessionPeer): void {
    const gone = new ParleyError(ErrorCode.Unreachable, `${peer.username} stopped acknowledging`)
    for (const connection of this.#options.node.getConnections(peerIdFromString(peer.peerId))) connection.abort(gone)
  }

  #sessionsOf (user: SignedInUser): Set<DirectSession> {
    let sessions = this.#byUser.get(user)
    if (sessions === undefined) {
      const own = new Set<DirectSession>()
      user.signal.addEventListener('abort', () => { for (const session of own) session.abort('signed out') }, { once: true })
      this.#byUser.set(user, own)
      sessions = own
    }
    return sessions
  }

  /** End every session (the node stops): their messages in flight fail and stay queued. A
   * sign-out ends its user's sessions the same way, through the user's signal. */
  stop (): void {
    this.#stopped = true
    for (const set of this.#byPeer.values()) {
      for (const session of set) session.abort('signed out')
    }
    this.#byPeer.clear()
  }
}
