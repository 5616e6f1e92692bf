/**
 * One function per rendezvous operation (common/protocol/rendezvous.ts). Each takes a decoded,
 * validated request and the caller's connection facts, and returns the result or throws a
 * ParleyError that the service sends back as an error response.
 */
import { randomBytes } from 'node:crypto'
import type { Multiaddr } from '@multiformats/multiaddr'
import { verifyEpochSignature } from '../common/crypto/epoch.ts'
import type { NameCardIssuer } from '../common/crypto/name-card.ts'
import { KDF_PARAMS, checkKdfParams, constantTimeEqual, fakeSaltFor, verifierOf, weakerKdf } from '../common/crypto/password.ts'
import type { KdfParams } from '../common/crypto/password.ts'
import { ErrorCode, ParleyError } from '../common/errors.ts'
import { RateLimiter } from '../common/rate-limiter.ts'
import {
  MAX_GROUP_MEMBERS, MAX_KEYS_RETURNED, MAX_LISTED, RendezvousError, SIGNED_IN_SINCE, TICKET_BYTES, encodeResult
} from '../common/protocol/rendezvous.ts'
import type { Op, Request, RequestOf, ResultArgs } from '../common/protocol/rendezvous.ts'
import { toNewGroupName, toNewUsername } from '../common/wire/names.ts'
import type { GroupName, Username } from '../common/wire/names.ts'
import { directoryAddrs, rewriteAddrs } from './addrs.ts'
import type { RelayIdentity } from './addrs.ts'
import { EPOCH_MIN_AGE_MS, LIST_FRESH_MS, MEMBERSHIP_CHANGE_BURST, MEMBERSHIP_CHANGES_PER_SECOND, MEMBER_ROTATION_INTERVAL_MS, SIGNUP_BURST, SIGNUPS_PER_SECOND } from './constants.ts'
import type { Notifier } from './notify.ts'
import { isLoopback, sourceOf } from './ratelimit.ts'
import type { SignInThrottle } from './ratelimit.ts'
import type { Session, Sessions } from './sessions.ts'
import type { GroupRecord, RendezvousStore } from './store.ts'

/** What the server knows about the caller, from the Noise-authenticated connection. */
export interface RequestContext {
  peerId: string
  connectionId: string
  remoteAddr: Multiaddr
}

export interface HandlerDeps {
  store: RendezvousStore
  sessions: Sessions
  notifier: Notifier
  throttle: SignInThrottle
  /** Signs the name cards of signed-in users with this server's identity. */
  nameCards: NameCardIssuer
  /** This server as a relay, if it is one: peers may publish a circuit address through it. */
  relay?: () => RelayIdentity | undefined
  /** Membership changes per user (tests give their own clock). */
  membershipChanges?: RateLimiter
  /** New accounts per source network (tests give their own clock). */
  signups?: RateLimiter
}

type Handler<O extends Op> = (request: RequestOf<O>, context: RequestContext) => ResultArgs<O>
export type Handlers = { [O in Op]: Handler<O> }

/** Run `request` and encode its success response (errors are thrown). */
export function handleRequest (handlers: Handlers, request: Request, context: RequestContext): Uint8Array {
  return run(handlers, request.op, request as never, context)
}

function run<O extends Op> (handlers: Handlers, op: O, request: RequestOf<O>, context: RequestContext): Uint8Array {
  const handler: Handler<O> = handlers[op]
  return encodeResult(op, handler(request, context))
}

/** Compared against when the username does not exist, so an unknown user costs the same work as
 * a wrong password and the two cannot be told apart by timing. */
const DUMMY_VERIFIER = new Uint8Array(randomBytes(32))

const invalidCredentials = (): ParleyError => new ParleyError(ErrorCode.BadCredentials, 'invalid username or password')

/** New and raised parameters must be sane and at least the current cost: nobody makes an
 * account (or lowers one) below OWASP's scrypt minimum. */
function requireCurrentKdf (kdf: KdfParams, floor: KdfParams = KDF_PARAMS): void {
  // The floor first: a cost under it is said to be under it, not out of checkKdfParams's wider
  // range (until 2026-12-07 N=2^10 read "out of range (2^15 or more)": round 32).
  if (weakerKdf(kdf, floor)) {
    throw new ParleyError(ErrorCode.Malformed,
      `scrypt parameters below N=2^${floor.logN}, r=${floor.r}, p=${floor.p} are not accepted for a new password`)
  }
  checkKdfParams(kdf)
}

export function createHandlers ({
  store, sessions, notifier, throttle, nameCards, relay,
  membershipChanges = new RateLimiter({ perSecond: MEMBERSHIP_CHANGES_PER_SECOND, burst: MEMBERSHIP_CHANGE_BURST }),
  signups = new RateLimiter({ perSecond: SIGNUPS_PER_SECOND, burst: SIGNUP_BURST })
}: HandlerDeps): Handlers {
  /** The largest groups, asked of the store at most every LIST_FRESH_MS: with many groups their
   * count and order cost the store far more than a request's share, and LIST may come often. */
  let largest: { at: number, groups: Array<{ name: string, members: number }> } | undefined
  function largestGroups (): Array<{ name: string, members: number }> {
    const now = Date.now()
    if (largest === undefined || now - largest.at >= LIST_FRESH_MS) largest = { at: now, groups: store.listGroups(MAX_LISTED) }
    return largest.groups
  }

  /** A SIGNUP from `context`'s network, within its rate (SIGNUP_BURST); from this machine, any. */
  function limitSignups (context: RequestContext): void {
    if (isLoopback(context.remoteAddr)) return
    try {
      signups.take(sourceOf(context.remoteAddr))
    } catch {
      throw new ParleyError(ErrorCode.RateLimited, 'too many new accounts from your network in a short time: nothing was done; try again in a few minutes')
    }
  }

  /** A CREATE, JOIN or LEAVE of `session`'s user, within its rate (MEMBERSHIP_CHANGE_BURST). */
  function changeMembership (session: Session): void {
    largest = undefined // the next LIST counts again (a handler runs whole: the change is made before it)
    try {
      membershipChanges.take(session.username)
    } catch {
      throw new ParleyError(ErrorCode.RateLimited, 'too many joins and leaves in a short time: nothing was done; try again in a minute')
    }
  }

  function requireSession (context: RequestContext): Session {
    const session = sessions.get(context.peerId)
    if (session === undefined) throw new ParleyError(ErrorCode.NotSignedIn, 'sign in first')
    return session
  }

  function existingGroup (name: GroupName): GroupRecord {
    const group = store.getGroup(name)
    if (group === undefined) throw new ParleyError(ErrorCode.NotFound, `no group "${name}"`)
    return group
  }

  function memberGroup (name: GroupName, session: Session): GroupRecord {
    const group = existingGroup(name)
    if (!store.isMember(name, session.username)) {
      throw new ParleyError(ErrorCode.Forbidden, `you are not a member of "${name}"`)
    }
    return group
  }

  /**
   * A rotation with a reason (no key yet, a member left, an unsigned legacy epoch) is allowed;
   * without one (forced: replacing an epoch whose key never came), only once the epoch has had
   * time to travel, and not by a member who forced one recently (issue 12 item 1: a stalled epoch
   * is replaced, but nobody can keep the group moving to keys they hand to no one). An epoch
   * whose key no member but its maker took is replaced without counting against the member who
   * does so, and its maker starts no epoch of that group, with a reason or not, for
   * MEMBER_ROTATION_INTERVAL_MS: other members do (round 43: a member who left and re-joined,
   * which makes a rotation due, then started one with a key handed to nobody, froze the group
   * again and again, each honest member's forced rotation spent).
   */
  function checkRotationAllowed (record: GroupRecord, username: string): { forced: boolean, replacesStalled: boolean } {
    const now = Date.now()
    const stalled = record.epoch === 0 ? undefined : store.lastStalledEpochBy(record.name, username)
    if (stalled !== undefined && now - stalled < MEMBER_ROTATION_INTERVAL_MS) {
      throw new ParleyError(ErrorCode.RateLimited, `a key epoch of "${record.name}" you started reached no other member; another member starts the next one`)
    }
    const made = store.currentEpoch(record.name)
    if (record.epoch === 0 || record.rotationNeeded || made === undefined) return { forced: false, replacesStalled: false }
    if (now - made.created < EPOCH_MIN_AGE_MS) {
      throw new ParleyError(ErrorCode.RateLimited, `the key of "${record.name}" is new; wait for it to reach you`)
    }
    const replacesStalled = !store.heldByOthers(record.name, record.epoch)
    // Its maker replacing it (who holds its key and needs no new one) is counted as forced.
    if (replacesStalled && made.maker !== username) return { forced: false, replacesStalled }
    const last = store.lastForcedRotationBy(record.name, username)
    if (last !== undefined && now - last < MEMBER_ROTATION_INTERVAL_MS) {
      throw new ParleyError(ErrorCode.RateLimited, `you replaced a key epoch of "${record.name}" recently; try again later`)
    }
    return { forced: true, replacesStalled }
  }

  /** Bind the caller's connection to `username`: a new session, or a takeover of the old one.
   * A takeover from another connection is announced like a new session: the user may now be on
   * another device, at other addresses, and whoever cached where it was must ask again (until
   * 2026-12-05 nobody was told, and contacts kept reaching the device that had been replaced). */
  function signIn (username: Username, context: RequestContext): void {
    const { wasOnline, replaced } = sessions.start(context.peerId, username, context.connectionId, context.remoteAddr)
    notifier.online(username, !wasOnline || replaced)
  }

  /**
   * The ticket of a sign-in (signup, or signin as the account's identity). A person's sign-in
   * gets a new one, and from then on only it renews the account's session: a peer signing in
   * again by itself (`resume`) with an older one is refused, and signs out. Until 2026-12-07 a
   * device that woke from sleep (its connection reset meanwhile, so it never read that it was
   * replaced) signed in again by itself and took the account back from the device signed in
   * since (round 46). A resume keeps its ticket: a resume whose answer was lost is still good.
   */
  function ticketFor (username: Username, resume: Uint8Array | undefined): Uint8Array {
    const current = store.ticketOf(username)
    if (resume !== undefined && current !== undefined) {
      if (!constantTimeEqual(current, resume)) throw new ParleyError(ErrorCode.Conflict, SIGNED_IN_SINCE)
      return current
    }
    const ticket = resume ?? randomBytes(TICKET_BYTES)
    store.setTicket(username, ticket)
    return ticket
  }

  return {
    salt ({ username }) {
      const user = store.getUser(username)
      // An unknown name gets what a new account has: a stable fake salt and the current
      // parameters (an account not yet upgraded from N=2^15 does show that it exists).
      return user === undefined
        ? { salt: fakeSaltFor(username, store.serverSecret), kdf: { ...KDF_PARAMS } }
        : { salt: user.salt, kdf: user.kdf }
    },

    signup ({ username, salt, kdf, authKey, identity, addrs }, context) {
      toNewUsername(username)
      requireCurrentKdf(kdf)
      limitSignups(context)
      store.createUser({
        username,
        peerId: context.peerId,
        salt,
        kdf,
        verifier: verifierOf(authKey),
        identity,
        addrs: rewriteAddrs(addrs, context.remoteAddr, relay?.())
      })
      signIn(username, context)
      return { username, peerId: context.peerId, ticket: ticketFor(username, undefined) }
    },

    signin ({ username, authKey, addrs, resume }, context) {
      const user = store.getUser(username)
      // Trusted: the account's own device (ratelimit.ts), which others' failures never hold back.
      const attempt = { username, peerId: context.peerId, source: sourceOf(context.remoteAddr), trusted: user?.peerId === context.peerId }
      throttle.check(attempt)
      const matches = constantTimeEqual(verifierOf(authKey), user?.verifier ?? DUMMY_VERIFIER)
      if (user === undefined || !matches) {
        throttle.fail(attempt)
        throw invalidCredentials()
      }
      const failed = throttle.succeed(attempt)
      const bound = user.peerId === context.peerId
      // (Checked before the session is taken: a refused resume leaves the one signed in since.)
      const ticket = bound ? ticketFor(username, resume) : undefined
      if (bound) {
        store.setAddrs(username, rewriteAddrs(addrs, context.remoteAddr, relay?.()))
        signIn(username, context)
      }
      return {
        username,
        peerId: user.peerId,
        identity: user.identity,
        bound,
        ...(ticket === undefined ? {} : { ticket }),
        ...(user.dataKey === undefined ? {} : { dataKey: user.dataKey }),
        ...(failed === 0 ? {} : { failedSignIns: failed })
      }
    },

    rekey ({ authKey, salt, kdf, newAuthKey, dataKey }, context) {
      const session = requireSession(context)
      const user = store.getUser(session.username)
      if (user === undefined) throw new ParleyError(ErrorCode.NotSignedIn, 'sign in first')
      // The password again, not only the session: a session alone cannot change the password.
      const attempt = { username: user.username, peerId: context.peerId, source: sourceOf(context.remoteAddr), trusted: true }
      throttle.check(attempt)
      if (!constantTimeEqual(verifierOf(authKey), user.verifier)) {
        throttle.fail(attempt)
        throw invalidCredentials()
      }
      requireCurrentKdf(kdf, weakerKdf(user.kdf, KDF_PARAMS) ? KDF_PARAMS : user.kdf)
      store.rekey(user.username, { salt, kdf, verifier: verifierOf(newAuthKey), dataKey })
      return { username: user.username }
    },

    lookup ({ username }, context) {
      const session = requireSession(context)
      const user = store.getUser(username)
      if (user === undefined) throw new ParleyError(ErrorCode.NotFound, `no user "${username}"`)
      sessions.watch(session, username)
      return { username, peerId: user.peerId, addrs: directoryAddrs(user.addrs, user.peerId, context.remoteAddr, relay?.()), online: sessions.isOnline(username) }
    },

    whois ({ peerId }, context) {
      const session = requireSession(context)
      const user = store.getUserByPeerId(peerId)
      if (user === undefined) throw new ParleyError(ErrorCode.NotFound, `no user with peer id ${peerId}`)
      sessions.watch(session, user.username)
      return { username: user.username, peerId, addrs: directoryAddrs(user.addrs, peerId, context.remoteAddr, relay?.()), online: sessions.isOnline(user.username) }
    },

    card (_request, context) {
      const session = requireSession(context)
      // A session is only ever bound to the account's own peer id (signin's `bound`).
      return { card: nameCards.issue(session.username, context.peerId) }
    },

    who (_request, context) {
      const session = requireSession(context)
      const names = new Set([...sessions.online(), ...store.groupmatesOf(session.username)])
      const users = [...names].sort().slice(0, MAX_LISTED)
        .map(username => ({ username, online: sessions.isOnline(username) }))
      return { users }
    },

    /** Every group, or past MAX_LISTED the asker's own and then the largest: until 2026-12-07 the
     * first 1,000 by name, so 1,000 groups named `0000…` hid every other, the asker's too (round 48). */
    list (_request, context) {
      const session = requireSession(context)
      const mine = store.groupsOf(session.username).map(({ name }) => ({ group: name, members: store.memberCount(name) }))
      const ours = new Set(mine.map(g => g.group))
      const others = largestGroups().filter(({ name }) => !ours.has(name)).map(({ name, members }) => ({ group: name, members }))
      // The chosen ones in the order of their names, as every list was before.
      return { groups: [...mine, ...others].slice(0, MAX_LISTED).sort((a, b) => a.group < b.group ? -1 : a.group > b.group ? 1 : 0) }
    },

    create ({ group }, context) {
      const session = requireSession(context)
      toNewGroupName(group)
      changeMembership(session)
      const created = store.createGroup(group, session.username)
      return { group, epoch: created.epoch }
    },

    join ({ group }, context) {
      const session = requireSession(context)
      changeMembership(session)
      const existing = store.getGroup(group)
      // A JOIN that creates the group makes a name; one that joins a group made before the rule
      // for new names does not.
      if (existing === undefined) toNewGroupName(group)
      if (existing !== undefined && !store.isMember(group, session.username) && store.memberCount(group) >= MAX_GROUP_MEMBERS) {
        throw new ParleyError(ErrorCode.Forbidden, `group "${group}" is full (${MAX_GROUP_MEMBERS} members)`)
      }
      const result = store.joinGroup(group, session.username)
      if (result.joined && !result.created) notifier.joined(result.group, session.username)
      return { group, created: result.created, epoch: result.group.epoch, already: !result.joined }
    },

    leave ({ group }, context) {
      const session = requireSession(context)
      memberGroup(group, session)
      changeMembership(session)
      const result = store.leaveGroup(group, session.username)
      if (result.left && !result.deleted) notifier.left(group, session.username)
      return { group }
    },

    members ({ group }, context) {
      const session = requireSession(context)
      const record = memberGroup(group, session)
      const members = store.members(group).map(({ joined: _joined, ...member }) => ({ ...member, online: sessions.isOnline(member.username) }))
      const made = store.currentEpoch(group)
      return {
        group,
        epoch: record.epoch,
        // An epoch made before epochs were signed has no commitment to check a key against:
        // its next sender replaces it.
        rotationNeeded: record.rotationNeeded || (record.epoch > 0 && made === undefined),
        members,
        // (absent, not undefined: CBOR would carry an explicit undefined)
        ...(made === undefined ? {} : { maker: { username: made.maker, peerId: made.makerPeerId, commitment: made.commitment, signature: made.signature } }),
        epochAgeMs: Math.max(0, Date.now() - (made?.created ?? record.created))
      }
    },

    rotate ({ group, fromEpoch, wrapped, commitment, signature }, context) {
      const session = requireSession(context)
      const record = memberGroup(group, session)
      if (!verifyEpochSignature(session.peerId, group, fromEpoch + 1, commitment, signature)) {
        throw new ParleyError(ErrorCode.Malformed, `the signature on epoch ${fromEpoch + 1} of "${group}" is not yours`)
      }
      const { forced, replacesStalled } = fromEpoch === record.epoch ? checkRotationAllowed(record, session.username) : { forced: false, replacesStalled: false }
      const result = store.rotate(group, fromEpoch, session.username, wrapped, { commitment, signature }, forced, replacesStalled)
      if (!result.ok) {
        throw new RendezvousError(ErrorCode.Conflict,
          `group "${group}" is at epoch ${result.epoch}, not ${fromEpoch}`, result.epoch)
      }
      return { group, epoch: result.epoch }
    },

    'put-key' ({ group, epoch, wrapped }, context) {
      const session = requireSession(context)
      const record = memberGroup(group, session)
      if (epoch < 1 || epoch > record.epoch) {
        throw new RendezvousError(ErrorCode.Conflict,
          `epoch ${epoch} is not a key epoch of "${group}" (current epoch ${record.epoch})`, record.epoch)
      }
      store.putKey(group, session.username, epoch, wrapped)
      return { group, epoch }
    },

    'get-keys' ({ group }, context) {
      const session = requireSession(context)
      const record = memberGroup(group, session)
      return { group, epoch: record.epoch, keys: store.getKeys(group, session.username, MAX_KEYS_RETURNED) }
    },

    groups (_request, context) {
      const session = requireSession(context)
      return { groups: store.groupsOf(session.username).slice(0, MAX_LISTED).map(({ name, epoch }) => ({ group: name, epoch })) }
    },

    'join-times' ({ group }, context) {
      const session = requireSession(context)
      memberGroup(group, session)
      const now = Date.now()
      return { group, members: store.members(group).map(member => ({ username: member.username, joinedAgoMs: Math.max(0, now - member.joined) })) }
    }
  }
}
