/**
 * Who is who: usernames to peer ids through the rendezvous directory, checked against the
 * peer ids this user pinned on first use (DESIGN §3). A changed peer id is refused loudly until
 * the user has compared fingerprints (VERIFY) and accepted it (TRUST).
 */
import { keepLatest } from '../common/latest-kept.ts'
import { createHash } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'
import { compare } from 'uint8arrays/compare'
import { readNameCard } from '../common/crypto/name-card.ts'
import { ErrorCode, ParleyError, is } from '../common/errors.ts'
import { SharedQuestions, answerWithin } from '../common/patient-timeout.ts'
import { RateLimiter } from '../common/rate-limiter.ts'
import type { Clock } from '../common/rate-limiter.ts'
import type { Username } from '../common/wire/names.ts'
import { rendezvousAway } from './rendezvous-client.ts'
import type { RendezvousClient } from './rendezvous-client.ts'
import type { PeerStore } from './store/store.ts'
import type { Emit } from './events.ts'
import { logger } from './log.ts'
import { ANSWER_PATIENCE_MS } from './constants.ts'

const log = logger('parley:directory')

export interface PeerContact {
  username: Username
  peerId: string
  addrs: string[]
  online: boolean
}

/** How long a directory answer is reused while no presence event says otherwise. */
const CONTACT_CACHE_MS = 60_000
const MAX_CACHED_CONTACTS = 10_000

/** A peer id the directory says has no account is not asked about again for this long (issue
 * 12: peers without an account made us ask `whois` on every stream, spending our own request
 * budget at the rendezvous). Short, so a peer that signs up just after is heard soon. */
export const UNKNOWN_PEER_CACHE_MS = 60_000
/** Unknown peer ids remembered (the stalest forgotten first): bounded under a flood of fresh ids. */
export const MAX_UNKNOWN_PEERS = 10_000
/** One budget for every `whois` that inbound traffic causes, whoever sends it: well under the
 * rendezvous's 50 requests a second per peer, so fresh peer ids cannot crowd out our own
 * look-ups. Past it a stream is refused with ERR_RATE_LIMITED (an honest sender retries). */
const INBOUND_LOOKUPS_PER_SECOND = 5
export const INBOUND_LOOKUPS_BURST = 20

/** What the directory asks of the rendezvous (the port the composition root, peer/session.ts,
 * fills with the session's rendezvous client). */
export type DirectoryRendezvous = Pick<RendezvousClient, 'lookup' | 'whois'>

export interface DirectoryOptions {
  /** The peer id of the rendezvous we pinned, once known: the name cards we accept are its. */
  nameCardIssuer?: () => string | undefined
  now?: Clock
  lookupsPerSecond?: number
  lookupsBurst?: number
  /** ANSWER_PATIENCE_MS unless given (tests shorten it). */
  answerPatienceMs?: number
}

/** What VERIFY shows for a user: the identity the directory shows now, which is the one TRUST
 * would accept, and, when it is not the identity pinned at first contact, that pinned one for
 * reference (`changed`). */
export interface IdentityToVerify {
  user: Username
  peerId: string
  fingerprint: string
  changed: boolean
  /** The pinned identity and its fingerprint when `changed`, else null. */
  pinnedPeerId: string | null
  pinnedFingerprint: string | null
  /** The rendezvous is out of reach: this is the identity pinned here, the one we talk with, and
   * a change at the directory is not known. */
  lastKnown: boolean
}

export class Directory {
  readonly #rendezvous: DirectoryRendezvous
  readonly #store: PeerStore
  readonly #emit: Emit
  /** The last answer for each user, to keep talking directly while the rendezvous is away. */
  readonly #lastSeen = new Map<Username, PeerContact>()
  /** Contacts looked up in the background to be watched (watch): once a run each. */
  readonly #watchAsked = new Set<Username>()
  /** Recent answers, by username (see `resolve`). */
  readonly #cached = new Map<Username, { at: number, contact: PeerContact }>()
  /** Users the rendezvous last said are offline, by a look-up or a presence event (`saidOffline`). */
  readonly #offline = new Set<Username>()
  /** The changed identities already warned about in this run ("<username> <peer id>"). */
  readonly #warnedChanged = new Set<string>()
  /** Peer ids with no account, until when (see UNKNOWN_PEER_CACHE_MS). */
  readonly #unknown = new Map<string, number>()
  /** Look-ups by username in flight (resolve): concurrent resolves share one. */
  readonly #resolving = new SharedQuestions<PeerContact>()
  readonly #patienceMs: number
  /** `whois` look-ups in flight, so a burst of streams from one peer asks once. */
  readonly #asking = new Map<string, Promise<Username>>()
  readonly #inboundLookups: RateLimiter
  readonly #now: Clock
  readonly #nameCardIssuer: () => string | undefined

  constructor (rendezvous: DirectoryRendezvous, store: PeerStore, emit: Emit, options: DirectoryOptions = {}) {
    this.#rendezvous = rendezvous
    this.#store = store
    this.#emit = emit
    this.#now = options.now ?? Date.now
    this.#nameCardIssuer = options.nameCardIssuer ?? (() => undefined)
    this.#patienceMs = options.answerPatienceMs ?? ANSWER_PATIENCE_MS
    this.#inboundLookups = new RateLimiter({
      perSecond: options.lookupsPerSecond ?? INBOUND_LOOKUPS_PER_SECOND,
      burst: options.lookupsBurst ?? INBOUND_LOOKUPS_BURST,
      maxKeys: 1,
      now: this.#now
    })
  }

  /**
   * The user's current peer id and addresses; an identity that changed since first use is refused.
   * An answer is reused for CONTACT_CACHE_MS: the rendezvous pushes presence for every user we
   * looked up, and `onPresence` drops the entry when that changes, so under load the directory
   * is not asked once per delivery (issue 11).
   */
  async resolve (username: Username): Promise<PeerContact> {
    const cached = this.#cached.get(username)
    if (cached !== undefined && Date.now() - cached.at < CONTACT_CACHE_MS) return cached.contact
    const last = this.#whereLastSeen(username)
    const asking = this.#resolving.ask(username, async () => await this.#lookUp(username))
    try {
      if (last === undefined) return await asking.answer
      // Known: the look-up gets ANSWER_PATIENCE_MS, then the contact is tried where it was last
      // seen while it goes on (a frozen rendezvous held every message to a contact without an
      // open session its 15 s: round 20).
      return await asking.within(this.#patienceMs) ?? { ...last, online: true }
    } catch (err) {
      // Rendezvous out of reach, or not signed in there again yet (not "no such user").
      if (last === undefined || !rendezvousAway(err)) throw err
      return { ...last, online: true }
    }
  }

  /** Where the contact was last seen: in this run, or kept with its pin in an earlier one. */
  #whereLastSeen (username: Username): PeerContact | undefined {
    const seen = this.#lastSeen.get(username)
    if (seen !== undefined) return seen
    const stored = this.#store.lastSeen(username)
    return stored === undefined ? undefined : { username, ...stored, online: true }
  }

  /** Ask the directory, check the answer against the pin, and keep it (cached, and where the
   * contact was last seen, for when the rendezvous is away). */
  async #lookUp (username: Username): Promise<PeerContact> {
    const found = await this.#lookup(username)
    await this.#checkPinSoon(found.username, found.peerId)
    // Kept for a later run only when they changed: no store read per look-up on this path. It
    // joins the group commit: where a contact was last seen is worth no fsync of its own.
    const previous = this.#lastSeen.get(found.username)?.addrs
    if (previous === undefined || previous.join(' ') !== found.addrs.join(' ')) {
      // A failure (the store closing at sign-out) loses only this hint: the next look-up writes it.
      this.#store.commitSoon(() => { this.#store.rememberAddrs(found.username, found.addrs) })
        .catch(err => { log.warn(`could not keep where ${found.username} was last seen`, err) })
    }
    this.#lastSeen.set(found.username, found)
    this.#noteOnline(found.username, found.online)
    this.#cached.set(found.username, { at: Date.now(), contact: found })
    const oldest = this.#cached.keys().next().value
    if (this.#cached.size > MAX_CACHED_CONTACTS && oldest !== undefined) this.#cached.delete(oldest)
    return found
  }

  /**
   * The rendezvous tells us when a user we looked up comes or goes. A contact we write to
   * without a look-up in this run (pinned in an earlier one, or met by its name card when it
   * wrote first) is looked up once, in the background, so that we hear of it too (until
   * 2026-12-07 someone who first wrote to us during a session, and whom we answered, was never
   * said to come or go until our next sign-in: round 28). A look-up that fails is not asked again
   * in this run. Not for every sender met by its card: a look-up for each cost the 4× soak a
   * quarter more CPU per delivery, and a sender we never answer is not yet a contact of ours.
   */
  watch (username: Username): void {
    if (this.#lastSeen.has(username) || this.#watchAsked.has(username)) return
    if (this.#watchAsked.size >= MAX_CACHED_CONTACTS) this.#watchAsked.clear()
    this.#watchAsked.add(username)
    this.resolve(username).catch((err: unknown) => { log.warn(`could not look ${username} up to hear when they come and go`, err) })
  }

  /** Every user looked up in this run, with whether the last answer said online. */
  lastAnswers (): Array<[Username, boolean]> {
    return [...this.#lastSeen.values()].map(contact => [contact.username, contact.online])
  }

  /** Whether the directory's last answer for `username` in this run said online (undefined: it
   * was not asked): presence news is measured against it (Session). */
  answeredOnline (username: Username): boolean | undefined {
    return this.#lastSeen.get(username)?.online
  }

  /** The rendezvous says a user came or went: ask again next time, and know meanwhile. */
  presence (username: Username, online: boolean): void {
    this.#cached.delete(username)
    this.#noteOnline(username, online)
  }

  #noteOnline (username: Username, online: boolean): void {
    if (online) this.#offline.delete(username)
    else this.#offline.add(username)
  }

  /** Whether the rendezvous's last word on `username` was that they are offline: a delivery cut
   * off from them is then their being away, not a fault (Outbox). */
  saidOffline (username: Username): boolean {
    return this.#offline.has(username)
  }

  /** Ask again next time: one user whose address failed, or everyone when presence was lost
   * (the rendezvous went away; what it said before may no longer hold). */
  forget (username?: Username): void {
    if (username !== undefined) {
      this.#cached.delete(username)
      return
    }
    this.#cached.clear()
    this.#offline.clear()
  }

  /** The peer id pinned for a user, if we have met them (no look-up). */
  pinned (username: Username): string | undefined {
    return this.#store.pinnedPeerId(username)
  }

  /**
   * The username behind an authenticated remote peer id: pinned, else the one its name card
   * names (`card`, from its hello, if our rendezvous signed it for this peer id and it has not
   * expired), else asked of the directory (`whois`). Either way it is pinned as any answer of
   * the directory is. Called for inbound traffic: a peer id the directory does not know is
   * remembered for UNKNOWN_PEER_CACHE_MS (ERR_NOT_FOUND without asking again), concurrent asks
   * for one peer id share one look-up, and all look-ups share one budget (ERR_RATE_LIMITED).
   */
  async usernameOf (peerId: string, card?: Uint8Array): Promise<Username> {
    const pinned = this.#store.usernameForPeer(peerId)
    if (pinned !== undefined) return pinned
    const issuer = this.#nameCardIssuer()
    const carded = card === undefined || issuer === undefined ? undefined : readNameCard(card, issuer, peerId, this.#now())
    if (carded !== undefined) {
      await this.#checkPinSoon(carded, peerId)
      return carded
    }
    const until = this.#unknown.get(peerId)
    if (until !== undefined) {
      if (this.#now() < until) throw noSuchPeer(peerId)
      this.#unknown.delete(peerId)
    }
    const asking = this.#asking.get(peerId)
    if (asking !== undefined) return await asking
    try {
      this.#inboundLookups.take('inbound')
    } catch {
      throw new ParleyError(ErrorCode.RateLimited, 'too many unknown senders at once; try again later')
    }
    const lookup = this.#whois(peerId)
    this.#asking.set(peerId, lookup)
    try {
      return await lookup
    } finally {
      this.#asking.delete(peerId)
    }
  }

  async #whois (peerId: string): Promise<Username> {
    let username: Username
    try {
      ({ username } = await this.#rendezvous.whois(peerId))
    } catch (err) {
      if (is(err, ErrorCode.NotFound)) {
        keepLatest(this.#unknown, peerId, this.#now() + UNKNOWN_PEER_CACHE_MS, MAX_UNKNOWN_PEERS)
      }
      throw err
    }
    await this.#checkPinSoon(username, peerId)
    return username
  }

  /** Record what the directory told us elsewhere (members lists) under the same pin rules. */
  observe (username: Username, peerId: string): void {
    try {
      this.#checkPin(username, peerId)
    } catch {
      // #checkPin has already warned; observing never fails the caller's command.
    }
  }

  #checkPin (username: Username, peerId: string): void {
    if (this.#store.pin(username, peerId) === 'changed') this.#refuseChanged(username, peerId)
  }

  /** #checkPin for a contact being made: a new pin joins the group commit (PeerStore.pinSoon). */
  async #checkPinSoon (username: Username, peerId: string): Promise<void> {
    if (await this.#store.pinSoon(username, peerId) === 'changed') this.#refuseChanged(username, peerId)
  }

  #refuseChanged (username: Username, peerId: string): never {
    const message = `the identity of ${username} has changed (now ${peerId}); messages to and from ${username} ` +
      `are refused until you compare fingerprints with VERIFY ${username} and accept with TRUST ${username}`
    // Said once a run for each new identity: every retry of a held message, and every stream the
    // new identity opens, comes here again (a tester got 7 of these in 30 s, until 2026-12-06).
    const said = `${username} ${peerId}`
    if (!this.#warnedChanged.has(said)) {
      if (this.#warnedChanged.size >= MAX_CACHED_CONTACTS) this.#warnedChanged.clear()
      this.#warnedChanged.add(said)
      this.#emit({ event: 'warning', code: ErrorCode.IdentityChanged, message })
    }
    throw new ParleyError(ErrorCode.IdentityChanged, message)
  }

  /**
   * The rendezvous's answer for `username`, refused unless it is about that user: every pin check
   * goes by the name in the answer, so a rendezvous answering a look-up of bob with carol's name
   * and identity would send bob's messages to carol, past bob's pin (until 2026-12-06).
   */
  async #lookup (username: Username): Promise<PeerContact> {
    const found = await this.#rendezvous.lookup(username)
    if (found.username !== username) {
      throw new ParleyError(ErrorCode.Protocol, `the rendezvous answered a look-up of ${username} with ${found.username}`)
    }
    return found
  }

  /**
   * The identity to compare for VERIFY: always the one the directory shows now (asked afresh),
   * since that is the one TRUST accepts and the one the user's own VERIFY shows on their side.
   * Until 2026-12-06 the pinned identity was shown instead, and after a change the number to
   * compare could never match. Nothing is pinned or refused here: VERIFY only shows.
   */
  async identityToVerify (username: Username, ownPeerId: string): Promise<IdentityToVerify> {
    const pinned = this.#store.pinnedPeerId(username)
    const { peerId, lastKnown } = await this.#shownOrPinned(username, pinned)
    const changed = !lastKnown && pinned !== undefined && pinned !== peerId
    return {
      user: username,
      peerId,
      fingerprint: Directory.fingerprint(ownPeerId, peerId),
      changed,
      pinnedPeerId: changed ? pinned : null,
      pinnedFingerprint: changed ? Directory.fingerprint(ownPeerId, pinned) : null,
      lastKnown
    }
  }

  /** The identity the directory shows; for a contact pinned here, the pinned one (`lastKnown`)
   * if the rendezvous is away or does not answer within ANSWER_PATIENCE_MS (frozen, swamped): a
   * contact can still be verified, as the identity we talk with (until 2026-12-06 VERIFY was an
   * error then: a tester's finding; until 2026-12-07 a frozen rendezvous held it its whole 15 s,
   * where MEMBERS and sending answer in 2: round 31). */
  async #shownOrPinned (username: Username, pinned: string | undefined): Promise<{ peerId: string, lastKnown: boolean }> {
    if (pinned === undefined) return { peerId: (await this.#lookup(username)).peerId, lastKnown: false }
    try {
      const found = await answerWithin(this.#lookup(username), this.#patienceMs)
      return found === undefined ? { peerId: pinned, lastKnown: true } : { peerId: found.peerId, lastKnown: false }
    } catch (err) {
      if (!rendezvousAway(err)) throw err
      return { peerId: pinned, lastKnown: true }
    }
  }

  /** Re-pin `username` to `expected` (the identity the user compared with VERIFY), if that is
   * still what the directory shows: a directory that changed since then is not trusted blindly. */
  async trust (username: Username, expected: string): Promise<{ peerId: string, changed: boolean }> {
    this.forget(username)
    const found = await this.#lookup(username)
    if (found.peerId !== expected) {
      throw new ParleyError(ErrorCode.IdentityChanged, `the directory shows another identity for ${username} than VERIFY did; VERIFY again`)
    }
    // The name asked about is the one re-pinned, as VERIFY showed it, whatever name the answer carries.
    const changed = this.#store.pinnedPeerId(username) !== found.peerId
    this.#store.repin(username, found.peerId)
    return { peerId: found.peerId, changed }
  }

  /** A fingerprint both users compute alike: 60 digits from both identity keys, in 12 groups. */
  static fingerprint (peerIdA: string, peerIdB: string): string {
    const keys = [peerIdA, peerIdB].map(publicKeyOf).sort(compare)
    const digest = createHash('sha256').update('parley/fingerprint').update(keys[0] ?? new Uint8Array(0)).update(keys[1] ?? new Uint8Array(0)).digest()
    const groups: string[] = []
    for (let i = 0; i < 12; i++) groups.push(String(digest.readUInt32BE(i * 2) % 100000).padStart(5, '0'))
    return groups.join(' ')
  }
}

function noSuchPeer (peerId: string): ParleyError {
  return new ParleyError(ErrorCode.NotFound, `no user with peer id ${peerId}`)
}

function publicKeyOf (peerId: string): Uint8Array {
  const key = peerIdFromString(peerId).publicKey
  if (key === undefined) throw new ParleyError(ErrorCode.Malformed, 'peer id carries no public key')
  return key.raw
}
