/**
 * The rendezvous in process, for unit tests of both sides: the real handlers, sessions, notifier
 * and store (opened in memory), with every request and answer encoded and decoded as on the
 * wire (rendezvous/service.ts's path without the stream). Users get real Ed25519 identities and
 * an events sink that records what they are told.
 */
import { generateKeyPairSync } from 'node:crypto'
import { generateKeyPair, privateKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { ErrorCode, ParleyError, asParleyError } from '../../../common/errors.ts'
import {
  RendezvousError, decodeRequest, decodeResponse, encodeError, encodeRequest
} from '../../../common/protocol/rendezvous.ts'
import type { Op, RequestArgs, Result, ServerEvent } from '../../../common/protocol/rendezvous.ts'
import { IN_MEMORY } from '../../../common/sqlite.ts'
import { NameCardIssuer } from '../../../common/crypto/name-card.ts'
import type { RendezvousClient } from '../../../peer/rendezvous-client.ts'
import { createHandlers, handleRequest } from '../../../rendezvous/handlers.ts'
import type { Handlers, RequestContext } from '../../../rendezvous/handlers.ts'
import { Notifier } from '../../../rendezvous/notify.ts'
import { SignInThrottle } from '../../../rendezvous/ratelimit.ts'
import { MEMBERSHIP_CHANGE_BURST, MEMBERSHIP_CHANGES_PER_SECOND, SIGNUP_BURST, SIGNUPS_PER_SECOND } from '../../../rendezvous/constants.ts'
import { RateLimiter } from '../../../common/rate-limiter.ts'
import { Sessions } from '../../../rendezvous/sessions.ts'
import { openStore } from '../../../rendezvous/store.ts'
import type { RendezvousStore } from '../../../rendezvous/store.ts'

export interface TestUser {
  username: string
  key: PrivateKey
  peerId: string
  context: RequestContext
  /** Every event the rendezvous sent this user's events stream, oldest first. */
  events: ServerEvent[]
}

export class InProcessRendezvous {
  readonly store: RendezvousStore = openStore(IN_MEMORY)
  readonly sessions = new Sessions()
  readonly notifier = new Notifier(this.store, this.sessions, () => Date.now() + this.aheadMs)
  /** This rendezvous's identity, which signs name cards (its peer id is what peers pin). */
  readonly serverIdentity = privateKeyFromRaw(ed25519Raw())
  readonly nameCards = new NameCardIssuer(this.serverIdentity)
  /** How far the membership-change limiter's clock is ahead of the real one (tests move it). */
  aheadMs = 0
  readonly handlers: Handlers = createHandlers({
    store: this.store,
    sessions: this.sessions,
    notifier: this.notifier,
    throttle: new SignInThrottle(),
    nameCards: this.nameCards,
    membershipChanges: new RateLimiter({ perSecond: MEMBERSHIP_CHANGES_PER_SECOND, burst: MEMBERSHIP_CHANGE_BURST, now: () => Date.now() + this.aheadMs }),
    signups: new RateLimiter({ perSecond: SIGNUPS_PER_SECOND, burst: SIGNUP_BURST, now: () => Date.now() + this.aheadMs })
  })

  /** While true, every call fails as a rendezvous out of reach does (ERR_UNREACHABLE). */
  down = false
  /** Requests answered, by operation (a cache that works asks fewer). */
  readonly asked = new Map<Op, number>()
  #connections = 0

  /** A fresh identity and the context of a connection from it (not signed in). */
  async identity (username: string): Promise<TestUser> {
    const key = await generateKeyPair('Ed25519')
    const peerId = peerIdFromPrivateKey(key).toString()
    const context = { peerId, connectionId: `c${this.#connections++}`, remoteAddr: multiaddr('/ip4/10.0.0.9/tcp/4001') }
    return { username, key, peerId, context, events: [] }
  }

  /** An account made directly in the store, signed in, with an events stream attached. */
  async user (username: string, addrs: string[] = ['/ip4/10.0.0.9/tcp/4001']): Promise<TestUser> {
    const user = await this.identity(username)
    this.store.createUser({
      username, peerId: user.peerId, salt: new Uint8Array(16), kdf: { logN: 17, r: 8, p: 1 }, verifier: new Uint8Array(32), identity: new Uint8Array(100), addrs
    })
    this.connect(user)
    return user
  }

  /** Sign `user`'s connection in (as a successful sign-in does) and attach its events sink. */
  connect (user: TestUser): void {
    const { session } = this.sessions.start(user.peerId, user.username, user.context.connectionId, user.context.remoteAddr)
    this.sessions.attach(session, { send: event => { user.events.push(event) }, close: event => { if (event !== undefined) user.events.push(event) } })
  }

  /** One request from `as`, through the wire encoding both ways; errors as the client sees them. */
  call<O extends Op> (op: O, args: RequestArgs<O>, as: RequestContext): Result<O> {
    if (this.down) throw new ParleyError(ErrorCode.Unreachable, 'the rendezvous is out of reach')
    this.asked.set(op, (this.asked.get(op) ?? 0) + 1)
    let answer: Uint8Array
    try {
      answer = handleRequest(this.handlers, decodeRequest(encodeRequest(op, args)), as)
    } catch (err) {
      const error = asParleyError(err)
      answer = encodeError(error, error instanceof RendezvousError ? error.epoch : undefined)
    }
    return decodeResponse(op, answer)
  }

  /** The peer-side client of `user`, for the operations the peer's middle layer calls. */
  client (user: TestUser): RendezvousClient {
    const as = user.context
    const client = {
      lookup: async (username: string) => this.call('lookup', { username }, as),
      whois: async (peerId: string) => this.call('whois', { peerId }, as),
      card: async () => this.call('card', {}, as).card,
      serverPeerId: this.nameCards.peerId,
      members: async (group: string) => this.call('members', { group }, as),
      join: async (group: string) => this.call('join', { group }, as),
      leave: async (group: string) => this.call('leave', { group }, as)
    }
    // Only the operations above are there: a test that reaches further fails loudly.
    return client as unknown as RendezvousClient
  }

  close (): void {
    this.store.close()
  }
}

/** A fresh Ed25519 key in libp2p's raw form (seed, then public key), made synchronously. */
function ed25519Raw (): Uint8Array {
  const jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' })
  return Buffer.concat([Buffer.from(jwk.d ?? '', 'base64url'), Buffer.from(jwk.x ?? '', 'base64url')])
}
