/**
 * Who is who: usernames to peer ids through the rendezvous directory, checked against the
 * peer ids this user pinned on first use (DESIGN §3). A changed peer id is refused loudly until
 * the user has compared fingerprints (VERIFY) and accepted it (TRUST).
 */
import { createHash } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'
import { ErrorCode, ParleyError, is } from '../common/errors.ts'
import type { RendezvousClient } from './rendezvous-client.ts'
import type { PeerStore } from './store/store.ts'
import type { Emit } from './events.ts'

export interface PeerContact {
  username: string
  peerId: string
  addrs: string[]
  online: boolean
}

/** How long a directory answer is reused while no presence event says otherwise. */
const CONTACT_CACHE_MS = 60_000
const MAX_CACHED_CONTACTS = 10_000

export class Directory {
  readonly #rendezvous: () => RendezvousClient
  readonly #store: PeerStore
  readonly #emit: Emit
  /** The last answer for each user, to keep talking directly while the rendezvous is away. */
  readonly #lastSeen = new Map<string, PeerContact>()
  /** Recent answers, by username (see `resolve`). */
  readonly #cached = new Map<string, { at: number, contact: PeerContact }>()

  constructor (rendezvous: () => RendezvousClient, store: PeerStore, emit: Emit) {
    this.#rendezvous = rendezvous
    this.#store = store
    this.#emit = emit
  }

  /**
   * The user's current peer id and addresses; an identity that changed since first use is refused.
   * An answer is reused for CONTACT_CACHE_MS: the rendezvous pushes presence for every user we
   * looked up, and `onPresence` drops the entry when that changes, so under load the directory
   * is not asked once per delivery (issue 11).
   */
  async resolve (username: string): Promise<PeerContact> {
    const cached = this.#cached.get(username)
    if (cached !== undefined && Date.now() - cached.at < CONTACT_CACHE_MS) return cached.contact
    let found: PeerContact
    try {
      found = await this.#rendezvous().lookup(username)
    } catch (err) {
      const last = this.#lastSeen.get(username)
      // Rendezvous unreachable (not "no such user"): try where the user was last seen.
      if (last === undefined || !is(err, ErrorCode.Unreachable)) throw err
      return { ...last, online: true }
    }
    this.#checkPin(found.username, found.peerId)
    this.#lastSeen.set(found.username, found)
    this.#cached.set(found.username, { at: Date.now(), contact: found })
    if (this.#cached.size > MAX_CACHED_CONTACTS) this.#cached.delete(this.#cached.keys().next().value ?? '')
    return found
  }

  /** The rendezvous says a user came or went (or we lost track of presence): ask again next time. */
  forget (username?: string): void {
    if (username === undefined) this.#cached.clear()
    else this.#cached.delete(username)
  }

  /** The peer id pinned for a user, if we have met them (no look-up). */
  pinned (username: string): string | undefined {
    return this.#store.pinnedPeerId(username)
  }

  /** The username behind an authenticated remote peer id (pinned, else asked of the directory). */
  async usernameOf (peerId: string): Promise<string> {
    const pinned = this.#store.usernameForPeer(peerId)
    if (pinned !== undefined) return pinned
    const { username } = await this.#rendezvous().whois(peerId)
    this.#checkPin(username, peerId)
    return username
  }

  /** Record what the directory told us elsewhere (members lists) under the same pin rules. */
  observe (username: string, peerId: string): void {
    try {
      this.#checkPin(username, peerId)
    } catch {
      // #checkPin has already warned; observing never fails the caller's command.
    }
  }

  #checkPin (username: string, peerId: string): void {
    if (this.#store.pin(username, peerId) !== 'changed') return
    const message = `the identity of ${username} has changed (now ${peerId}); messages to and from ${username} ` +
      `are refused until you compare fingerprints with VERIFY ${username} and accept with TRUST ${username}`
    this.#emit({ event: 'warning', code: ErrorCode.IdentityChanged, message })
    throw new ParleyError(ErrorCode.IdentityChanged, message)
  }

  /** Accept the directory's current peer id for a user after an out-of-band check. */
  async trust (username: string): Promise<string> {
    this.forget(username)
    const found = await this.#rendezvous().lookup(username)
    this.#store.repin(found.username, found.peerId)
    return found.peerId
  }

  /** A fingerprint both users compute alike: 60 digits from both identity keys, in 12 groups. */
  static fingerprint (peerIdA: string, peerIdB: string): string {
    const keys = [peerIdA, peerIdB].map(id => Buffer.from(publicKeyOf(id))).sort(Buffer.compare)
    const digest = createHash('sha256').update('parley/fingerprint').update(keys[0] ?? Buffer.alloc(0)).update(keys[1] ?? Buffer.alloc(0)).digest()
    const groups: string[] = []
    for (let i = 0; i < 12; i++) groups.push(String(digest.readUInt32BE(i * 2) % 100000).padStart(5, '0'))
    return groups.join(' ')
  }
}

function publicKeyOf (peerId: string): Uint8Array {
  const key = peerIdFromString(peerId).publicKey
  if (key === undefined) throw new ParleyError(ErrorCode.Malformed, 'peer id carries no public key')
  return key.raw
}
