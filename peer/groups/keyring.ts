/**
 * Group keys on this peer (DESIGN §4): one random 24-byte key per group and epoch, made here
 * (never by the rendezvous), kept wrapped under the user's wrapKey both in the local store and
 * on the rendezvous (so a new machine recovers it), and handed to members who lack it over a
 * direct DH session. A new epoch starts with a compare-and-set on the rendezvous, so two
 * members who rotate at once agree on one winner.
 */
import { EventEmitter } from 'node:events'
import { equals } from 'uint8arrays/equals'
import { epochStatement, keyCommitment, keyMatchesCommitment, verifyEpochSignature } from '../../common/crypto/epoch.ts'
import { newGroupKey, GROUP_KEY_BYTES } from '../../common/crypto/group.ts'
import { unwrapSecret, wrapSecret } from '../../common/crypto/wrap.ts'
import { ErrorCode, ParleyError, asParleyError, is } from '../../common/errors.ts'
import { SharedQuestions } from '../../common/patient-timeout.ts'
import { RateLimiter } from '../../common/rate-limiter.ts'
import { keepLatest } from '../../common/latest-kept.ts'
import { isValidName, toUsername } from '../../common/wire/names.ts'
import type { GroupName, Username } from '../../common/wire/names.ts'
import type { Emit } from '../events.ts'
import type { PeerStore } from '../store/store.ts'
import { rendezvousAway } from '../rendezvous-client.ts'
import type { RendezvousClient } from '../rendezvous-client.ts'
import { logger } from '../log.ts'
import { leftGroupRefusal, recipientLeft, staleKeyRefusal } from './membership-races.ts'
import { ANSWER_PATIENCE_MS } from '../constants.ts'
import { cutUnderWay } from '../files/handoff.ts'

/** A member as the rendezvous lists it. No addresses: a hand-over resolves the member through
 * the directory, which checks the peer id against our pin (DESIGN §3). */
export interface GroupMember {
  username: Username
  peerId: string
  online: boolean
  hasKey: boolean
}

/** Who made the current epoch, with their signed commitment to its key. */
interface EpochMaker {
  username: Username
  peerId: string
  commitment: Uint8Array
  signature: Uint8Array
}

export interface GroupInfo {
  group: string
  epoch: number
  rotationNeeded: boolean
  members: GroupMember[]
  maker: EpochMaker | undefined
  /** How old the current epoch is (the rendezvous's clock) when this was asked. */
  epochAgeMs: number
}

/** A group key handed over by another member (`KEY <group> <epoch>` on a direct session). */
export interface IncomingKey {
  from: string
  group: string
  epoch: number
  key: Uint8Array
}

export interface KeyringDeps {
  username: string
  wrapKey: Uint8Array
  store: Pick<PeerStore, 'groupKey' | 'saveGroupKey' | 'forgetGroup' | 'rememberGroupInfo' | 'lastGroupInfo' | 'groupsRemembered'>
  rendezvous: Pick<RendezvousClient, 'members' | 'rotate' | 'getKeys' | 'putKey'>
  emit: Emit
  /** Sign with our identity key (the epochs we start). */
  sign: (data: Uint8Array) => Promise<Uint8Array>
  /** The peer id we pinned for a user, if any (an epoch's maker is checked against it). */
  pinnedPeerId: (username: string) => string | undefined
  /** Send a key to one member over a direct session, to the identity pinned for it. */
  handOver: (to: GroupMember, group: string, epoch: number, key: Uint8Array) => Promise<void>
  /** ANSWER_PATIENCE_MS unless given (tests shorten it). */
  answerPatienceMs?: number
}

/** What the keyring reports; the composition root (session.ts) turns it into outbox flushes. */
export interface KeyringEvents {
  /** A handed key was accepted: deliveries to the group that waited for it can go now. */
  key: [group: string, epoch: number]
  /** A member was handed the key: deliveries to it that failed without one can go now. */
  'handed-over': [group: string, username: Username]
}

const log = logger('parley:keyring')

/** Member lists change rarely, and every change is pushed (member-joined, member-left,
 * rotation-needed invalidate the entry): a list is reused for this long, so busy groups do not
 * ask the rendezvous every few seconds per member (issue 11). */
const MEMBERS_CACHE_MS = 30_000
/** Rendezvous look-ups one sender's frames may cause here (listForSender, keyForSender, a handed
 * key's check): a member's texts ask once per list; a sender posting texts that name groups we
 * are not in, or that it is not in, made one request each, as fast as its rate allowed, and spent
 * this peer's own request budget at the rendezvous (round 43: 60 a second, and our MEMBERS fell
 * back to the last known list); so did texts at epochs we hold no key of, and keys handed for
 * groups nobody has (round 46: our MEMBERS took 2–4 s). */
const SENDER_CHECKS = { perSecond: 1, burst: 10 }
/** Look-ups a change to a group (a join, a leave, a new key, the events stream lost) pays for
 * itself, whoever's frame causes them: after a change a member's next text, the new key and its
 * check each ask once. Charged to the sender, a member leaving and joining again 9 times in 3 s
 * spent the budget of every member sending meanwhile, whose texts then waited up to 16 s, said
 * as theirs (`too many group messages from alice`: round 50). Kept up to a cap, so that churn
 * adds at most so many look-ups a group however long it lasts (the rendezvous limits joins and
 * leaves per account as it is). */
const CHECKS_PER_CHANGE = 3
/** Leaves remembered (#lastLeft): far more than a refusal can take to come back. */
const MAX_LEAVES_KEPT = 10_000
const MAX_CHANGE_CHECKS = 60
/** After the rendezvous did not answer for a list, the last known lists are used without asking
 * it again for this long: a frozen one makes each request wait 15 s, and a SENDGROUP asked at
 * the send, at each delivery, and each member at the key's check (round 18: 45 s a message). */
const AWAY_RECHECK_MS = 10_000

/** Unwrapped keys kept (a group's current and recent epochs; a user is in far fewer groups). */
const MAX_UNWRAPPED_KEYS = 1024
const context = (group: string, epoch: number): string => `group:${group}:${epoch}`
/** A group's epoch as a map key (a group name holds no newline). */
const epochId = (group: string, epoch: number): string => `${group}\n${epoch}`
/** A member of a group as a map key. */
const memberId = (group: string, username: string): string => `${group}\n${username}`

/** A member that cannot get the current epoch's key for this long (its maker offline or
 * withholding it) starts a new epoch; the rendezvous refuses it sooner (EPOCH_MIN_AGE_MS). */
export const KEY_WAIT_MS = 30_000
/** Epochs whose key is being waited for (bounded: forgotten all at once past it, which only
 * restarts those waits). */
const MAX_WANTED_KEYS = 1_000
/** The same failed hand-over is said at most this often (the outbox tries on meanwhile). */
const HAND_OVER_WARNING_MS = 60_000
/** Failed hand-overs remembered for that (bounded: forgotten all at once past it). */
const MAX_WARNED = 1_000

const WAITING_FOR_KEY = 'waiting for the key of '
const FIRST_KEY_WAITS = ' has no key yet: its first is made once the rendezvous answers'

/** A delivery to a group whose current key has not reached us yet: a member hands it over (a
 * passing failure, tried again). At epoch 0 the group has no key at all yet, and nobody will
 * hand one over: the first is made by the next send the rendezvous answers (until 2026-12-07
 * that read "waiting for the key of g5 (epoch 0) from another member": round 25). */
function waitingForKey (group: string, epoch: number): ParleyError {
  if (epoch === 0) return new ParleyError(ErrorCode.Unreachable, `${group}${FIRST_KEY_WAITS}`)
  return new ParleyError(ErrorCode.Unreachable, `${WAITING_FOR_KEY}${group} (epoch ${epoch}) from another member`)
}

/** Whether a delivery's reason (its `queued`) is a wait for the group's key (either kind): a
 * person's screen says it apart. */
export function isWaitingForKey (reason: string): boolean {
  return reason.startsWith(WAITING_FOR_KEY) || isWaitingForFirstKey(reason)
}

/** Whether it is the wait for a group's first key, which the rendezvous's return brings. */
export function isWaitingForFirstKey (reason: string): boolean {
  return reason.endsWith(FIRST_KEY_WAITS)
}

export class GroupKeyring extends EventEmitter<KeyringEvents> {
  readonly #deps: KeyringDeps
  readonly #info = new Map<string, { at: number, info: GroupInfo }>()
  /** The last answer for each group, never invalidated: what the group goes on with while the
   * rendezvous is away. Kept in the store too, for a peer restarted meanwhile (#remember). */
  readonly #lastKnown = new Map<string, GroupInfo>()
  /** Until when the rendezvous is taken to be away without asking (AWAY_RECHECK_MS). */
  #awayUntil = 0
  /** The request for each group's list under way, by group and the list's generation it was made at. */
  readonly #asking = new SharedQuestions<GroupInfo>()
  /** Groups a member joined since their last answer (memberJoined). */
  readonly #joined = new Set<string>()
  readonly #patienceMs: number
  /** What the store holds for each group, as written: it is written again only when it changed. */
  readonly #stored = new Map<string, string>()
  /** Bumped by every invalidation: a members answer that was in flight meanwhile may predate
   * the change (a join or leave), so it is used once but not cached. */
  readonly #generation = new Map<string, number>()
  /** Hand-overs in progress by group/epoch/member: sign-in's handOverAll and the rendezvous's
   * key-needed often ask for the same one at once; one DH session is enough. */
  readonly #handing = new Map<string, Promise<void>>()
  /** When each failed hand-over's warning was last said (#warnedRecently). */
  readonly #warned = new Map<string, number>()
  /** Handed keys are taken one at a time per group: several members answer the same
   * key-needed, and the second copy must find the first stored (one `key` event, one put-key). */
  readonly #accepting = new Map<string, Promise<void>>()
  /** Keys as unwrapped from the store, by group and epoch: every group message sent or received
   * needs one, and unwrapping (two HKDFs, 3DES, HMAC) each time was a tenth of a busy peer's
   * CPU (issue 11). Dropped when the store's copy is written or the group forgotten. */
  readonly #unwrapped = new Map<string, Uint8Array>()
  /** When a send here first wanted an epoch's key that had not reached us (by group and epoch):
   * KEY_WAIT_MS counts from then. Until 2026-12-06 it counted from the epoch's start, so a member
   * who joined an epoch older than that started a new one at its first send, while another
   * member was handing it the key (round 9). */
  readonly #wantedSince = new Map<string, number>()
  /** Aborted when we leave the group (forget): what arrives of it meanwhile, a group file
   * under way, stops there (round 38: it went on, and was kept as the group's file). */
  readonly #membership = new Map<string, AbortController>()
  /** Look-ups each sender's texts caused (SENDER_CHECKS). */
  readonly #senderChecks = new RateLimiter({ ...SENDER_CHECKS, maxKeys: 10_000 })
  /** When each member last left each group, as the rendezvous said (member-left), the latest
   * MAX_LEAVES_KEPT: a refusal by one who is back is theirs all the same (asRefusalByLeaver). */
  readonly #lastLeft = new Map<string, number>()
  /** Look-ups a group's changes paid for, not yet made (CHECKS_PER_CHANGE), by group. */
  readonly #changeChecks = new Map<string, number>()

  constructor (deps: KeyringDeps) {
    super()
    this.#deps = deps
    this.#patienceMs = deps.answerPatienceMs ?? ANSWER_PATIENCE_MS
  }

  /** The group's members and epoch (briefly cached); only members may ask. */
  async info (group: string, fresh = false): Promise<GroupInfo> {
    return (await this.#infoAnswered(group, fresh)).info
  }

  /** info(), and whether the rendezvous gave it (a cached answer is its own): false when only
   * the last known list could be had (it is away, or slow to answer). */
  async answered (group: string): Promise<{ info: GroupInfo, answered: boolean }> {
    return await this.#infoAnswered(group, false)
  }

  /**
   * The list to check `from`, a sender of a text of `group`, against: the cached one when it has
   * them; else asked (a fresh one if the cached list lacks them: it may predate their join),
   * within `from`'s budget of such look-ups (ERR_RATE_LIMITED past it, which their outbox tries
   * again later).
   */
  async listForSender (group: string, from: string): Promise<GroupInfo> {
    const cached = this.#info.get(group)
    const has = (info: GroupInfo): boolean => info.members.some(m => m.username === from)
    if (cached !== undefined && Date.now() - cached.at < MEMBERS_CACHE_MS && has(cached.info)) return cached.info
    // With the rendezvous away the last known list is all there is, and nothing is asked; a
    // question under way is shared and costs nothing more. Charged for either, a member's burst
    // after 30 s of the rendezvous gone was held to one text a second (round 46: 30 texts, 50 s).
    const last = this.lastKnown(group)
    if (last !== undefined && Date.now() < this.#awayUntil) return onList(last, false)
    if (!this.#asking.has(this.#questionOf(group))) this.#checkAsked(from, group)
    const info = await this.info(group)
    if (has(info)) return info
    const fresh = await this.#infoAnswered(group, true)
    return onList(fresh.info, fresh.answered)

    /** A list the rendezvous gave: as it is (checkSender refuses a sender it lacks). A last known
     * one that lacks the sender says nothing of them: they may have joined since; they are to
     * send again once it answers, not be refused for good. */
    function onList (info: GroupInfo, answered: boolean): GroupInfo {
      if (answered || has(info)) return info
      throw new ParleyError(ErrorCode.Unreachable, `cannot check that ${from} is in ${group} until the rendezvous answers`)
    }
  }

  /** One more rendezvous look-up caused by `from`'s frames, within its budget (SENDER_CHECKS):
   * past it ERR_RATE_LIMITED, which their outbox takes as "try again later". */
  #checkAsked (from: string, group: string): void {
    const paid = this.#changeChecks.get(group) ?? 0
    if (paid > 0) {
      if (paid === 1) this.#changeChecks.delete(group)
      else this.#changeChecks.set(group, paid - 1)
      return
    }
    try {
      this.#senderChecks.take(from)
    } catch {
      throw new ParleyError(ErrorCode.RateLimited, `too many group messages from ${from} to check at the rendezvous; try again later`)
    }
  }

  /** The key a text or file of `from` names: as key(), a look-up at the rendezvous counted
   * against `from`'s budget (a member's texts at epochs we hold no key of asked once each). */
  async keyForSender (group: string, epoch: number, from: string): Promise<Uint8Array> {
    const local = await this.#localKey(group, epoch)
    if (local !== undefined) return local
    this.#checkAsked(from, group)
    return await this.key(group, epoch)
  }

  /** MEMBERS: the list as the rendezvous gives it now, or after the patience the last known one
   * (`answered` false); its answer is kept as any other (a group's creator had no last known list
   * until it sent, and MEMBERS with the rendezvous frozen waited 15 s: round 22). */
  async current (group: string): Promise<{ info: GroupInfo, answered: boolean }> {
    return await this.#infoAnswered(group, true, true)
  }

  /** info(), and whether the rendezvous gave it (false: it is away or slow, and this is the last
   * known). A list that is due is asked for; while the last known one lacks nobody we know of,
   * it is used after ANSWER_PATIENCE_MS without an answer, the request going on (its answer is
   * taken when it comes). A fresh list (unless `patient`), or one a member joined since, waits
   * for the answer. */
  async #infoAnswered (group: string, fresh: boolean, patient = !fresh): Promise<{ info: GroupInfo, answered: boolean }> {
    const cached = this.#info.get(group)
    if (!fresh && cached !== undefined && Date.now() - cached.at < MEMBERS_CACHE_MS) return { info: cached.info, answered: true }
    const last = this.lastKnown(group)
    if (last !== undefined && Date.now() < this.#awayUntil) return { info: last, answered: false }
    // The request under way since this list last changed, or a new one.
    const generation = this.#generation.get(group) ?? 0
    const asking = this.#asking.ask(this.#questionOf(group, generation), async () => await this.#members(group, generation))
    try {
      if (!patient || last === undefined || this.#joined.has(group)) return { info: await asking.answer, answered: true }
      const info = await asking.within(this.#patienceMs)
      return info === undefined ? { info: last, answered: false } : { info, answered: true }
    } catch (err) {
      // The rendezvous is away (or we are not signed in there again yet): the group goes on with
      // the members and epoch we last saw (issue 13 item 3); it is asked again once it is back.
      if (last !== undefined && rendezvousAway(err)) return { info: last, answered: false }
      throw err
    }
  }

  /** The key of the question for a group's list since it last changed (#asking). */
  #questionOf (group: string, generation = this.#generation.get(group) ?? 0): string {
    return `${group}\n${generation}`
  }

  /** Ask the rendezvous for the group's list; cached unless it changed meanwhile, kept for when
   * the rendezvous is away. */
  async #members (group: string, generation: number): Promise<GroupInfo> {
    let found
    try {
      found = await this.#deps.rendezvous.members(group)
    } catch (err) {
      if (rendezvousAway(err)) this.#awayUntil = Date.now() + AWAY_RECHECK_MS
      throw err
    }
    this.#awayUntil = 0
    const info: GroupInfo = {
      group: found.group,
      epoch: found.epoch,
      rotationNeeded: found.rotationNeeded,
      members: found.members.map(m => ({ username: m.username, peerId: m.peerId, online: m.online, hasKey: m.hasKey })),
      maker: found.maker,
      epochAgeMs: found.epochAgeMs
    }
    // An answer to a request made before a change (a join or leave) may predate it: used by its
    // waiters, not cached.
    if ((this.#generation.get(group) ?? 0) === generation) {
      this.#info.set(group, { at: Date.now(), info })
      this.#joined.delete(group)
    }
    this.#remember(info)
    return info
  }

  /** The members and epoch last seen (kept in the store too): what the group goes on with while
   * the rendezvous is away; undefined if never seen here. */
  lastKnown (group: string): GroupInfo | undefined {
    return this.#lastKnown.get(group) ?? this.#fromStore(group)
  }

  /** The members of every group as last seen here (this run or, from the store, an earlier
   * one), by group: what changed since is what happened while we were away. */
  membersLastSeen (): Map<string, string[]> {
    const seen = new Map<string, string[]>()
    for (const group of this.#deps.store.groupsRemembered()) {
      const info = this.lastKnown(group)
      if (info !== undefined) seen.set(group, info.members.map(member => member.username))
    }
    return seen
  }

  /** Keep an answer for when the rendezvous is away: here, and in the store if it changed. */
  #remember (info: GroupInfo): void {
    this.#lastKnown.set(info.group, info)
    const kept = encodeLastKnown(info)
    if (this.#stored.get(info.group) === kept) return
    this.#deps.store.rememberGroupInfo(info.group, kept)
    this.#stored.set(info.group, kept)
  }

  /** What an earlier run of this peer kept (it was restarted while the rendezvous is away). */
  #fromStore (group: string): GroupInfo | undefined {
    const kept = this.#deps.store.lastGroupInfo(group)
    const info = kept === undefined ? undefined : decodeLastKnown(group, kept)
    if (kept === undefined || info === undefined) return undefined
    this.#lastKnown.set(group, info)
    this.#stored.set(group, kept)
    return info
  }

  /** Membership or epoch changed: the next look-up asks the rendezvous, paid by the change. */
  invalidate (group: string): void {
    this.#askAfresh(group)
    this.#changeChecks.set(group, Math.min(MAX_CHANGE_CHECKS, (this.#changeChecks.get(group) ?? 0) + CHECKS_PER_CHANGE))
  }

  /** The next look-up asks the rendezvous, in a question of its own (one under way may have been
   * asked before what we now know happened). */
  #askAfresh (group: string): void {
    this.#info.delete(group)
    this.#generation.set(group, (this.#generation.get(group) ?? 0) + 1)
  }

  /** A member left (the rendezvous's member-left): the next look-up asks afresh, and the list the
   * group goes on with while the rendezvous is away, here and in the store, no longer has them.
   * Until 2026-12-06 it kept them, and a message sent while the rendezvous was away was queued
   * for the leaver, sealed under a key the leaver holds. (A joiner is not added the same way:
   * member-joined does not carry what a member entry needs, its peer id; the next answer does.) */
  memberLeft (group: string, username: string): void {
    this.invalidate(group)
    keepLatest(this.#lastLeft, memberId(group, username), Date.now(), MAX_LEAVES_KEPT)
    const last = this.lastKnown(group)
    if (last === undefined || !last.members.some(m => m.username === username)) return
    this.#remember({ ...last, members: last.members.filter(m => m.username !== username) })
  }

  /** A member joined (the rendezvous's member-joined): the next look-up asks afresh and waits for
   * the answer, the last known list lacking them (the event carries no peer id, which a member
   * entry needs). Used after the patience, it would leave the joiner out of what is sent meanwhile. */
  memberJoined (group: string): void {
    this.invalidate(group)
    this.#joined.add(group)
  }

  /** Every group's list: after the events stream was lost, changes may have been missed. */
  invalidateAll (): void {
    for (const group of this.#info.keys()) this.invalidate(group)
  }

  /** Signed in at the rendezvous again: it answers, and is asked from now on. */
  rendezvousBack (): void {
    this.#awayUntil = 0
  }

  /** Aborted, with the reason `you left <group>`, once we leave `group` (forget). */
  whileMember (group: string): AbortSignal {
    let membership = this.#membership.get(group)
    if (membership === undefined) this.#membership.set(group, membership = new AbortController())
    return membership.signal
  }

  forget (group: GroupName): void {
    this.#membership.get(group)?.abort(new ParleyError(ErrorCode.Forbidden, `you left ${group}`))
    this.#membership.delete(group)
    this.invalidate(group)
    this.#changeChecks.delete(group)
    this.#joined.delete(group)
    this.#lastKnown.delete(group)
    this.#stored.delete(group)
    for (const byEpoch of [this.#unwrapped, this.#wantedSince]) {
      for (const id of byEpoch.keys()) if (id.startsWith(group + '\n')) byEpoch.delete(id)
    }
    this.#deps.store.forgetGroup(group)
  }

  /**
   * The key to send with: the current epoch's, after starting a new epoch when the group needs
   * one (needsNewEpoch). Online members who lack it get it first (DESIGN §4).
   *
   * `key` is undefined when another member made the current key and it has not reached us yet
   * (we lost the rotate race, or we joined while no holder was online): the send is queued all
   * the same and goes out when the key arrives (the `key` event), so nothing typed is lost.
   *
   * The cached list is enough when it leaves nothing to decide: every change to who is in the
   * group is pushed (member-joined, member-left, rotation-needed invalidate it). Until 2026-12-06
   * every SENDGROUP asked the rendezvous afresh, and a piped burst ran into its rate limit.
   *
   * `lastKnown`: the list is the one kept here, the rendezvous not answering (a member who joined
   * while this peer was not running is missing from it: the send's roll call, roll-call.ts).
   */
  async keyForSending (group: GroupName): Promise<{ info: GroupInfo, key: Uint8Array | undefined, lastKnown: boolean }> {
    let { info, answered } = await this.#infoAnswered(group, false)
    const ready = await this.#readyKey(info)
    if (ready !== undefined) {
      this.#handOverSoon(info, ready)
      return { info, key: ready, lastKnown: !answered }
    }
    if (answered) ({ info, answered } = await this.#infoAnswered(group, true))
    if (!answered) {
      // The rendezvous away (this is the last known list): the group goes on with the epoch it
      // has, as #rotate would find, without asking again, for a new epoch or for our copy of the
      // key: each would wait out its silence (a frozen one: 15 s a request, and a SENDGROUP took
      // 70 s: round 16). Without the key here the send waits for it in the outbox.
      const key = await this.#localKey(group, info.epoch)
      if (key !== undefined) this.#handOverSoon(info, key)
      return { info, key, lastKnown: true }
    }
    return { ...await this.#settleKey(group, info), lastKnown: false }
  }

  /** The key to send with when the list needs nothing done first (an epoch that nobody asked to
   * replace, with a holder) and we hold that epoch's key here; else undefined. */
  async #readyKey (info: GroupInfo): Promise<Uint8Array | undefined> {
    if (needsNewEpoch(info)) return undefined
    // A local copy that does not unwrap is for #settleKey to sort out (it asks the rendezvous).
    return await this.#localKey(info.group, info.epoch).catch(() => undefined)
  }

  /** keyForSending on a fresh list: rotate when the group needs a new epoch, or when the current
   * one's key has not reached us in KEY_WAIT_MS (its age is only known from a fresh answer). */
  async #settleKey (group: GroupName, fresh: GroupInfo): Promise<{ info: GroupInfo, key: Uint8Array | undefined }> {
    let info = fresh
    if (needsNewEpoch(info)) info = await this.#rotate(info)
    let key = await this.#keyIfHeld(group, info.epoch)
    if (key === undefined && this.#waitedTooLong(info)) {
      // Nobody handed us this epoch's key in all this time: its maker is offline or withholds
      // it. A new epoch of our own lets the group talk again (issue 12 item 1).
      info = await this.#rotate(info)
      key = await this.#keyIfHeld(group, info.epoch)
    }
    if (key !== undefined) {
      this.#wantedSince.delete(epochId(group, info.epoch))
      this.#handOverSoon(info, key)
    }
    return { info, key }
  }

  /** Has the current epoch's key been wanted here, and existed, for KEY_WAIT_MS without reaching
   * us? The wait starts now if it had not begun. */
  #waitedTooLong (info: GroupInfo): boolean {
    const id = epochId(info.group, info.epoch)
    const now = Date.now()
    const since = this.#wantedSince.get(id)
    if (since === undefined) {
      if (this.#wantedSince.size >= MAX_WANTED_KEYS) this.#wantedSince.clear()
      this.#wantedSince.set(id, now)
    }
    return info.epochAgeMs >= KEY_WAIT_MS && now - (since ?? now) >= KEY_WAIT_MS
  }

  /**
   * The key to deliver a queued group message to one member with, handed to that member first:
   * the one place a key is handed over before a delivery. The member may have come online since
   * the send, or joined an epoch it never got; without the key it could not read what follows
   * (DESIGN §4). Refuses (ERR_FORBIDDEN) when the recipient, or we, are no longer members; ERR_
   * UNREACHABLE while the key another member made has not reached us yet (the delivery waits:
   * the `key` event flushes it, the outbox retries).
   */
  async keyForDelivery (group: GroupName, recipient: Username): Promise<{ epoch: number, key: Uint8Array }> {
    const inGroup = (info: GroupInfo, username: string): boolean => info.members.some(m => m.username === username)
    let info = await this.info(group)
    // A cached list only ever says yes quickly: before dropping a delivery, ask afresh.
    if (!inGroup(info, recipient) || !inGroup(info, this.#deps.username)) info = await this.info(group, true)
    if (!inGroup(info, recipient)) throw recipientLeft(recipient, group)
    if (!inGroup(info, this.#deps.username)) throw new ParleyError(ErrorCode.Forbidden, `you are no longer in ${group}`)
    // Without the current key, settle it as a send does: that moves the group on from an epoch
    // whose key never came (its maker withholds it).
    let key = await this.#keyIfHeld(group, info.epoch)
    if (key === undefined) {
      const settled = await this.keyForSending(group)
      info = settled.info
      key = settled.key
      if (key === undefined) throw waitingForKey(group, info.epoch)
    }
    const member = info.members.find(m => m.username === recipient)
    if (member !== undefined) await this.handOverTo(info, member, key)
    return { epoch: info.epoch, key }
  }

  async #keyIfHeld (group: string, epoch: number): Promise<Uint8Array | undefined> {
    return await this.key(group, epoch).catch((err: unknown) => {
      if (is(err, ErrorCode.Unreachable)) return undefined
      throw err
    })
  }

  /**
   * Start the next epoch with a key made here. The new key, our wrapped copy and our signed
   * commitment travel with the compare-and-set, so no member ever sees the new epoch without a
   * holder or without the commitment a handed key is checked against. Losing the race, or being
   * told to wait (the epoch is new, or we rotated recently), leaves the group as it is.
   */
  async #rotate (info: GroupInfo): Promise<GroupInfo> {
    const { group } = info
    try {
      const epoch = info.epoch + 1
      const key = newGroupKey()
      const wrapped = wrapSecret(this.#deps.wrapKey, context(group, epoch), key)
      const commitment = keyCommitment(key, group, epoch)
      const signature = await this.#deps.sign(epochStatement(group, epoch, commitment))
      await this.#deps.rendezvous.rotate(group, info.epoch, wrapped, { commitment, signature })
      this.#saveKey(group, epoch, wrapped)
    } catch (err) {
      // Another member rotated first (their key reaches us by hand-over), or not yet allowed; or
      // the rendezvous is away, and the group goes on with the epoch it has, to the members last
      // seen, until it is back (until 2026-12-06 the send failed, and its text was not kept,
      // when the last answer before it went away said a new epoch was due: round 9).
      const waits = [ErrorCode.Conflict, ErrorCode.RateLimited, ErrorCode.Unreachable, ErrorCode.NotSignedIn]
      if (!waits.some(code => is(err, code))) throw err
    }
    return await this.info(group, true)
  }

  /**
   * handOverToLacking, not waited for: a send goes on at once. A member who does not answer (a
   * process frozen while the rendezvous still shows it online) took a step's time to give up on,
   * and held the SENDGROUP, the prompt, and the message to every other member that long (round
   * 17: 15–30 s a send). Each delivery still hands its own member the key first
   * (keyForDelivery), joining a hand-over under way; failures are said where they happen.
   */
  #handOverSoon (info: GroupInfo, key: Uint8Array): void {
    void this.handOverToLacking(info, key)
  }

  /** Resolves once the hand-overs under way have ended, however each did. */
  async handOversDone (): Promise<void> {
    while (this.#handing.size > 0) await Promise.allSettled([...this.#handing.values()])
  }

  /** Give the current key to every online member who has no copy yet; failures wait for later. */
  async handOverToLacking (info: GroupInfo, key: Uint8Array): Promise<void> {
    const lacking = info.members.filter(m => !m.hasKey && m.online && m.username !== this.#deps.username)
    await Promise.all(lacking.map(async member => { await this.handOverTo(info, member, key) }))
  }

  /** Whether `message` was said in the last HAND_OVER_WARNING_MS (and if not, that it is now). */
  #warnedRecently (message: string): boolean {
    const now = Date.now()
    const last = this.#warned.get(message)
    if (last !== undefined && now - last < HAND_OVER_WARNING_MS) return true
    if (this.#warned.size >= MAX_WARNED) this.#warned.clear()
    this.#warned.set(message, now)
    return false
  }

  /**
   * Hand the key to one member unless the list says it has it; a failure is a warning (the
   * member asks again through key-needed when it next signs in). Before a delivery the outbox
   * already knows the member is online, so `member.online` is not consulted here.
   */
  async handOverTo (info: GroupInfo, member: GroupMember, key: Uint8Array): Promise<void> {
    if (member.hasKey || member.username === this.#deps.username) return
    const id = `${info.group}/${info.epoch}/${member.username}`
    let running = this.#handing.get(id)
    if (running === undefined) {
      running = this.#deps.handOver(member, info.group, info.epoch, key)
        .then(() => { this.emit('handed-over', info.group, member.username) })
        .catch(async (err: unknown) => {
          // Said once per attempt, not by each of its waiters, and the same failure once a
          // minute: 8 times in 44 s for a member who had not accepted our new identity, 4 in
          // the first 3 s (a tester's finding, until 2026-12-06). The outbox tries on meanwhile.
          const error = asParleyError(err)
          const message = `could not hand the key of ${info.group} to ${member.username}: ${error.message}`
          if (!await this.#mends(info.group, info.epoch, member.username, error)) {
            if (!this.#warnedRecently(message)) this.#deps.emit({ event: 'warning', code: error.code, message })
          } else {
            log.warn(message)
          }
          throw err
        })
        .finally(() => { this.#handing.delete(id) })
      this.#handing.set(id, running)
    }
    try {
      await running
      member.hasKey = true
    } catch {
      // said where it failed
    }
  }

  /**
   * A delivery to `recipient` that they refused as not a member (ERR_FORBIDDEN): a member who
   * left between our check (keyForDelivery) and the message's arrival, whose message it no
   * longer is (membership-races.ts), if the rendezvous says they are gone. Any other failure is
   * returned as it is. Until 2026-12-06 such a message was `failed`, with "could not deliver to
   * dave in g3 … the recipient is no longer in g3", though every member had it (round 12: a
   * LEAVE while a group file was going out). So is a file cut under way by a member who left:
   * their LEAVE stops it coming in (until 2026-12-07 said `queued`, "the other side closed the
   * connection", then withdrawn).
   */
  async asRefusalByLeaver (group: GroupName, recipient: Username, err: unknown, sentAt: number): Promise<unknown> {
    if (!is(err, ErrorCode.Forbidden) && !cutUnderWay(err)) return err
    // One who left after it was sent and is back already: it was a message of the membership
    // they left (round 50: `failed`, a member leaving and joining again at once).
    const leftAt = this.#lastLeft.get(memberId(group, recipient))
    if (leftAt !== undefined && leftAt >= sentAt) return recipientLeft(recipient, group)
    const info = await this.info(group, true).catch(() => undefined)
    if (info === undefined || info.members.some(m => m.username === recipient)) return err
    return recipientLeft(recipient, group)
  }

  /**
   * A failed hand-over of `epoch`'s key that mends itself, which nobody need be warned of (a
   * member who joined and left or quit at once was, rounds 7 and 8): the member is out of reach
   * or not signed in at its rendezvous again (it asks for the key through key-needed when it signs
   * in next, and our outbox hands it over
   * before a delivery), it refused because it is no longer in the group, or because the group has
   * moved on to a newer epoch, whose key its maker hands round (membership-races.ts).
   */
  async #mends (group: string, epoch: number, username: string, error: ParleyError): Promise<boolean> {
    if (error.code === ErrorCode.Unreachable || error.code === ErrorCode.NotSignedIn) return true
    if (error.code !== ErrorCode.Forbidden && error.code !== ErrorCode.Conflict) return false
    // Refused as no member, we have left meanwhile: the key is not ours to hand any more
    // (round 50: `could not hand the key of g to carol: … alice is not a member of g` on alice).
    const info = await this.info(group, true).catch((err: unknown) => is(err, ErrorCode.Forbidden) ? 'left' as const : undefined)
    if (info === 'left') return true
    if (info === undefined) return false
    return error.code === ErrorCode.Forbidden ? !info.members.some(m => m.username === username) : info.epoch > epoch
  }

  /** A member asked (through the rendezvous) for the key: hand it over if we hold it. The
   * rendezvous asks us because it keeps our wrapped copy, so a local store that lost it (a
   * new data folder) still answers from that copy. */
  async onKeyNeeded (group: string, epoch: number, username: string): Promise<void> {
    const key = await this.key(group, epoch).catch((err: unknown) => {
      log.warn(`${username} asked for the key of ${group} (epoch ${epoch}), which we do not have`, err)
      return undefined
    })
    if (key === undefined) return
    // Refused as no member, we have left meanwhile: nothing of ours to hand (round 50: a bare
    // `warning: you are not a member of "g"` on the leaver, about itself).
    const info = await this.info(group, true).catch((err: unknown) => { if (!is(err, ErrorCode.Forbidden)) throw err })
    if (info === undefined) return
    const member = info.members.find(m => m.username === username)
    if (member === undefined || info.epoch !== epoch) return
    await this.handOverToLacking({ ...info, members: [member] }, key)
  }

  /** The key of a group at an epoch: from the local store, else our wrapped copy on the rendezvous. */
  async key (group: string, epoch: number): Promise<Uint8Array> {
    const local = await this.#localKey(group, epoch)
    if (local !== undefined) return local
    const { keys } = await this.#deps.rendezvous.getKeys(group)
    for (const copy of keys) {
      try {
        const key = unwrapSecret(this.#deps.wrapKey, context(group, copy.epoch), copy.wrapped)
        this.#saveKey(group, copy.epoch, copy.wrapped)
        if (copy.epoch === epoch) return key
      } catch (err) {
        // A copy that does not unwrap is not ours to use; the others may still be good.
        log.warn(`our wrapped key of ${group} (epoch ${copy.epoch}) from the rendezvous does not unwrap`, err)
      }
    }
    throw waitingForKey(group, epoch)
  }

  async #localKey (group: string, epoch: number): Promise<Uint8Array | undefined> {
    const id = epochId(group, epoch)
    const cached = this.#unwrapped.get(id)
    if (cached !== undefined) return cached
    const wrapped = this.#deps.store.groupKey(group, epoch)
    if (wrapped === undefined) return undefined
    let key: Uint8Array
    try {
      key = unwrapSecret(this.#deps.wrapKey, context(group, epoch), wrapped)
    } catch (err) {
      if (!is(err, ErrorCode.Integrity)) throw err
      // Wrapped by an earlier account of this name in this folder (the rendezvous lost its
      // accounts; the user signed up again here): not ours, so held as none, and our copy on the
      // rendezvous or a member's hand-over replaces it. Read as ours, it refused every hand-over
      // of that epoch's key and failed every send to the group, for good (a tester's finding,
      // until 2026-12-06: "refused by the recipient: frame MAC mismatch").
      log.warn(`the stored key of ${group} (epoch ${epoch}) is an earlier account's: held as none`, err)
      return undefined
    }
    if (this.#unwrapped.size >= MAX_UNWRAPPED_KEYS) this.#unwrapped.delete(this.#unwrapped.keys().next().value ?? '')
    this.#unwrapped.set(id, key)
    return key
  }

  #saveKey (group: string, epoch: number, wrapped: Uint8Array): void {
    this.#unwrapped.delete(epochId(group, epoch))
    this.#deps.store.saveGroupKey(group, epoch, wrapped)
  }

  /** Wrap a key under our wrapKey and keep it here and on the rendezvous. */
  async #keep (group: string, epoch: number, key: Uint8Array): Promise<void> {
    const wrapped = wrapSecret(this.#deps.wrapKey, context(group, epoch), key)
    await this.#deps.rendezvous.putKey(group, epoch, wrapped)
    this.#saveKey(group, epoch, wrapped)
  }

  /** A key handed over by another member: accepted only from a member, for the current epoch,
   * and never replacing a different key we already hold for that epoch. */
  async acceptHandedKey (incoming: IncomingKey): Promise<void> {
    const previous = this.#accepting.get(incoming.group) ?? Promise.resolve()
    // The one before failed for its own caller, who has heard of it; this one runs regardless.
    const current = previous.catch(() => {}).then(async () => { await this.#accept(incoming) })
    this.#accepting.set(incoming.group, current)
    try {
      await current
    } finally {
      if (this.#accepting.get(incoming.group) === current) this.#accepting.delete(incoming.group)
    }
  }

  async #accept (incoming: IncomingKey): Promise<void> {
    if (incoming.key.length !== GROUP_KEY_BYTES) throw new ParleyError(ErrorCode.Malformed, 'a group key is 24 bytes')
    // A copy of a key we hold changes nothing: acknowledged without asking the rendezvous (every
    // holder answers a key-needed, so the second and third copies are the common case).
    const held = await this.#localKey(incoming.group, incoming.epoch)
    if (held !== undefined) {
      if (!equals(held, incoming.key)) throw new ParleyError(ErrorCode.Conflict, `a different key for ${incoming.group} epoch ${incoming.epoch}`)
      return
    }
    const listed = async (list: () => Promise<{ info: GroupInfo, answered: boolean }>): Promise<{ info: GroupInfo, answered: boolean }> => await list().catch((err: unknown) => {
      // We left (the rendezvous says we are no member): the key came as we went (round 7).
      throw is(err, ErrorCode.Forbidden) ? leftGroupRefusal(incoming.group) : err
    })
    let { info, answered } = await listed(async () => await this.#listForKey(incoming))
    // A key ahead of the list may be ahead of a question shared with others that was asked before
    // its epoch was made: asked once more, in a question of its own, within the same charge
    // (round 50: `key for epoch 13 of g, which is at 12`, warned on both sides, as a member
    // joined and another left).
    if (answered && incoming.epoch > info.epoch) {
      this.#askAfresh(incoming.group)
      ;({ info, answered } = await listed(async () => await this.#infoAnswered(incoming.group, true)))
    }
    if (!info.members.some(m => m.username === incoming.from)) {
      throw new ParleyError(ErrorCode.Forbidden, `${incoming.from} is not a member of ${incoming.group}`)
    }
    // An epoch the group has moved on from: the next one's key comes from its maker.
    if (incoming.epoch < info.epoch) throw staleKeyRefusal(incoming.group, incoming.epoch, info.epoch)
    if (incoming.epoch !== info.epoch) {
      // Ahead of the epoch last seen while the rendezvous is away (it restarted, and we are not
      // signed in there again yet): not a conflict, only one we cannot check yet. The holder hands
      // it again at our key-needed once we are (round 14: its person was warned "… which is at 1").
      if (!answered) throw new ParleyError(ErrorCode.NotSignedIn, `cannot check the key of ${incoming.group} (epoch ${incoming.epoch}) until signed in at the rendezvous again`)
      throw new ParleyError(ErrorCode.Conflict, `key for epoch ${incoming.epoch} of ${incoming.group}, which is at ${info.epoch}`)
    }
    this.#checkCommitted(info, incoming)
    await this.#keep(incoming.group, incoming.epoch, incoming.key)
    this.invalidate(incoming.group)
    this.#deps.emit({ event: 'key', group: incoming.group, epoch: incoming.epoch, from: incoming.from })
    this.emit('key', incoming.group, incoming.epoch)
  }

  /** The list to check a handed key against: the cached one when it is at the key's epoch and has
   * its sender (every change to it is pushed and drops it), else a fresh one, within the sender's
   * budget of look-ups. */
  async #listForKey (incoming: IncomingKey): Promise<{ info: GroupInfo, answered: boolean }> {
    const cached = this.#info.get(incoming.group)
    if (cached !== undefined && Date.now() - cached.at < MEMBERS_CACHE_MS && cached.info.epoch === incoming.epoch &&
      cached.info.members.some(m => m.username === incoming.from)) return { info: cached.info, answered: true }
    this.#checkAsked(incoming.from, incoming.group)
    return await this.#infoAnswered(incoming.group, true)
  }

  /**
   * A handed key must be the one the epoch's maker committed to and signed: a member cannot
   * pass off a key of its own making, and the rendezvous cannot swap the commitment without the
   * maker's identity key (checked against our pin of the maker when we have one).
   */
  #checkCommitted (info: GroupInfo, incoming: IncomingKey): void {
    const maker = info.maker
    const refuse = (why: string): ParleyError =>
      new ParleyError(ErrorCode.Integrity, `refused the key of ${incoming.group} (epoch ${incoming.epoch}) from ${incoming.from}: ${why}`)
    if (maker === undefined) throw refuse('the epoch has no signed commitment')
    const pinned = this.#deps.pinnedPeerId(maker.username)
    if (pinned !== undefined && pinned !== maker.peerId) throw refuse(`the identity of its maker ${maker.username} changed`)
    if (!verifyEpochSignature(maker.peerId, incoming.group, incoming.epoch, maker.commitment, maker.signature)) {
      throw refuse(`the signature of its maker ${maker.username} does not verify`)
    }
    if (!keyMatchesCommitment(incoming.key, incoming.group, incoming.epoch, maker.commitment)) {
      throw refuse(`it is not the key ${maker.username} committed to`)
    }
  }

  /** On sign-in: hand keys we hold to online members of our groups (as the rendezvous lists
   * them, with their epochs) who lack them. */
  async handOverAll (groups: ReadonlyArray<{ group: string, epoch: number }>): Promise<void> {
    for (const { group, epoch } of groups) {
      if (epoch === 0) continue
      // A local copy that does not unwrap: key() asks the rendezvous for ours next.
      const key = await this.#localKey(group, epoch).catch(() => undefined) ?? await this.key(group, epoch).catch((err: unknown) => {
        log.warn(`no key of ${group} (epoch ${epoch}) to hand to members who lack it`, err)
        return undefined
      })
      if (key === undefined) continue
      await this.handOverToLacking(await this.info(group, true), key)
    }
  }
}

/** The group has no epoch yet, a member left (rotation-needed), or nobody holds the current key
 * (its maker failed between the rotate and storing it: the group would wait for a key that does
 * not exist). */
function needsNewEpoch (info: GroupInfo): boolean {
  return info.epoch === 0 || info.rotationNeeded || !info.members.some(m => m.hasKey)
}

/** A group's members and epoch as the store keeps them. Without presence (after a restart nobody
 * is known to be online) or the epoch's age (no epoch starts while the rendezvous is away). */
function encodeLastKnown (info: GroupInfo): string {
  const { maker } = info
  return JSON.stringify({
    epoch: info.epoch,
    rotationNeeded: info.rotationNeeded,
    members: info.members.map(m => ({ username: m.username, peerId: m.peerId, hasKey: m.hasKey })),
    maker: maker === undefined
      ? null
      : { ...maker, commitment: Buffer.from(maker.commitment).toString('base64'), signature: Buffer.from(maker.signature).toString('base64') }
  })
}

/** The stored form back, or undefined when it is not what encodeLastKnown wrote. */
function decodeLastKnown (group: string, kept: string): GroupInfo | undefined {
  let value: unknown
  try {
    value = JSON.parse(kept)
  } catch {
    return undefined
  }
  const { epoch, rotationNeeded, members, maker } = value as Record<string, unknown>
  if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || typeof rotationNeeded !== 'boolean' || !Array.isArray(members)) return undefined
  const list: GroupMember[] = []
  for (const member of members as unknown[]) {
    const { username, peerId, hasKey } = (member ?? {}) as Record<string, unknown>
    if (typeof username !== 'string' || !isValidName(username) || typeof peerId !== 'string' || typeof hasKey !== 'boolean') return undefined
    list.push({ username: toUsername(username), peerId, hasKey, online: false })
  }
  let epochMaker: EpochMaker | undefined
  if (maker !== null) {
    const { username, peerId, commitment, signature } = (maker ?? {}) as Record<string, unknown>
    if (typeof username !== 'string' || !isValidName(username) || typeof peerId !== 'string' || typeof commitment !== 'string' || typeof signature !== 'string') return undefined
    epochMaker = { username: toUsername(username), peerId, commitment: new Uint8Array(Buffer.from(commitment, 'base64')), signature: new Uint8Array(Buffer.from(signature, 'base64')) }
  }
  return { group, epoch, rotationNeeded, members: list, maker: epochMaker, epochAgeMs: 0 }
}
