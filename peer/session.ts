/**
 * Everything that belongs to one signed-in user, and the composition root of it: the local
 * store, the directory with its pins, the inbox, the group keyring and the outbox are made here
 * and wired here, and only here. The node's protocol services (direct, groups) outlive a
 * session; it opens the node's SignedInGate to them at start and closes it at sign-out.
 *
 * Nothing below knows the outbox: the keyring reports `key` and `handed-over`, the direct
 * service `session-open`, the rendezvous presence; this class turns each into a flush. A new
 * Session is made at each sign-in and closed at sign-out or exit; nothing here outlives the user
 * it was made for.
 */
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { EventEmitter } from 'node:events'
import type { PrivateKey } from '@libp2p/interface'
import { ErrorCode, ParleyError, asParleyError, is } from '../common/errors.ts'
import { newMessageIdHex } from '../common/crypto/random.ts'
import type { RendezvousEvent } from '../common/protocol/rendezvous.ts'
import { toMessageId, toUsername } from '../common/wire/names.ts'
import type { GroupName, MessageId, Username } from '../common/wire/names.ts'
import type { Emit } from './events.ts'
import { Directory } from './directory.ts'
import type { DirectoryRendezvous, PeerContact } from './directory.ts'
import { Inbox } from './inbox.ts'
import { PresenceLines } from './presence-lines.ts'
import { NameCardHolder } from './name-card.ts'
import { Outbox, waitsOnGroup } from './outbox.ts'
import type { OutboxItem } from './store/store.ts'
import { dropGroupPartials, fileToQueue, keptGroupParts, tidyPartials } from './files/index.ts'
import { PeerStore } from './store/store.ts'
import type { DirectService, DirectServiceEvents, Posted } from './direct/service.ts'
import type { SessionPeer } from './direct/session.ts'
import { rendezvousAway } from './rendezvous-client.ts'
import type { RendezvousClient } from './rendezvous-client.ts'
import { GroupKeyring } from './groups/keyring.ts'
import type { GroupMember, KeyringDeps } from './groups/keyring.ts'
import { RollCalls } from './groups/roll-call.ts'
import type { GroupService } from './groups/service.ts'
import { WARM_BUSY_GIVE_UP_MS, warmSessions } from './groups/warm-sessions.ts'
import type { WarmTargets } from './groups/warm-sessions.ts'
import { loopQuiet } from '../common/loop-quiet.ts'
import type { SignedInGate, SignedInUser } from './signed-in.ts'
import { logger } from './log.ts'
import { answeredByAnother } from './transport/dial.ts'
import { failedSignInsWarning, signInBound } from './account.ts'

const log = logger('parley:session')

/** What a session asks of the rendezvous: its events, signing in again, the directory's look-ups
 * and the keyring's. */
export type SessionRendezvous = Pick<RendezvousClient, 'subscribe' | 'signin' | 'signInRefused' | 'signingInAgain' | 'card' | 'serverPeerId' | 'groups' | 'joinTimes'> & DirectoryRendezvous & KeyringDeps['rendezvous']

/** A file queued by SENDFILE or SENDGROUPFILE: its message id, and the name it is sent under. */
/** What a sign-out leaves for the account's next sign-in in this folder: deliveries still in
 * the outbox, and group sends made while the rendezvous was away whose roll call (groups/
 * roll-call.ts) is still due. */
export interface LeftBehind {
  pending: number
  unconfirmed: number
}

export interface SentFile {
  id: MessageId
  name: string
}

export interface SessionOptions {
  /** The node's protocol services, started when it began to listen. */
  direct: Pick<DirectService, 'post' | 'sendFile' | 'sendGroupKey' | 'connected' | 'openSession' | 'checkAlive'> & Pick<EventEmitter<DirectServiceEvents>, 'on' | 'off'>
  groups: Pick<GroupService, 'deliver'>
  /** Where this session is offered to the protocols (at start) for what arrives. */
  gate: Pick<SignedInGate, 'open'>
  rendezvous: SessionRendezvous
  username: string
  wrapKey: Uint8Array
  authKey: Uint8Array
  /** Our identity key: signs the group epochs we start. */
  identity: PrivateKey
  /** Our current dialable addresses, for the directory. */
  addrs: () => string[]
  dataDir: string
  emit: Emit
  /** What this process has reported `queued` (outbox.ts): kept across its sessions, so signing
   * in again does not report a waiting message as news. */
  reportedQueued?: Set<string>
  /** The rendezvous gave this account's session to a sign-in elsewhere (another device): the
   * owner signs this session out (app.ts), for this peer must stop answering as the user. */
  onReplaced: () => void
  /** After the rendezvous came back, how long until everyone around has signed in again
   * (PRESENCE_QUIET_AFTER_RECONNECT_MS; tests shorten it). */
  presenceQuietMs?: number
}

/** Reconnecting to the rendezvous: 0.5 s, doubling, at most 10 s between attempts, with jitter
 * so a room of peers does not knock all at once when the server comes back. A person waits at
 * most about that long after it is back (with 30 s, the cap until 2026-12-05, peers took 20–35 s
 * to sign in again); an attempt on a server that is down is one refused TCP connection. */
const RECONNECT_FIRST_MS = 500
const RECONNECT_MAX_MS = 10_000
/** After the rendezvous came back, everyone signs in again within about two reconnect steps. */
const PRESENCE_QUIET_AFTER_RECONNECT_MS = 3 * RECONNECT_MAX_MS
/** Contacts last known online looked up again once that window is over (#recheckPresence). */
const PRESENCE_RECHECK_MAX = 100

/** At sign-in, sessions open ahead with the users of the direct conversations of the last week,
 * the latest first, at most this many (after the group members: groups/warm-sessions.ts). */
const RECENT_CONTACTS_MS = 7 * 24 * 60 * 60_000
const RECENT_CONTACTS_MAX = 16

/** At sign-out, how long deliveries in flight may take to be acknowledged. */
const CLOSE_GRACE_MS = 2_000
/** A group's list is asked for again this long after a member joined, and up to as long again
 * at random: every online member hears the same join, and their requests are spread. */
const LIST_AFTER_JOIN_MS = 2_000
/** At sign-out, how long inbound work (a file coming in) may take to end once told to: enough to
 * keep what came of a file (an fsync or two), bounded for a disk that hangs. */
const SERVED_GRACE_MS = 2_000
/** At sign-out, once told to stop, how long deliveries still under way are waited for. */
const OUTBOX_STOP_GRACE_MS = 2_000
/** At sign-out, how long the lines of what came in may take to leave the process (a slow reader
 * of --json holds them in its output buffer): those still there are told of at the next sign-in. */
const SHOWN_GRACE_MS = 1_000

export class Session {
  readonly username: Username
  readonly wrapKey: Uint8Array
  readonly store: PeerStore
  readonly directory: Directory
  readonly inbox: Inbox
  readonly outbox: Outbox
  readonly keyring: GroupKeyring
  readonly downloadsDir: string
  /** This user as the protocols see them (SignedInGate). */
  readonly user: SignedInUser
  readonly #direct: SessionOptions['direct']
  readonly #groups: SessionOptions['groups']
  readonly #rendezvous: SessionRendezvous
  readonly #gate: SessionOptions['gate']
  readonly #emit: Emit
  /** To sign in again by itself; replaced when LOGIN again upgrades the password's parameters. */
  #authKey: Uint8Array
  readonly #addrs: () => string[]
  readonly #onReplaced: () => void
  readonly #abort = new AbortController()
  /** The one sign-out (close may be called again: a second call waits for the first). */
  #closing: Promise<LeftBehind> | undefined
  /** Aborted at the end of sign-out: the direct sessions served for this user end, and the
   * protocols stop handing this session what arrives. */
  readonly #signedOut = new AbortController()
  /** Inbound work being served for us (SignedInUser.track), each settled or not. */
  readonly #served = new Set<Promise<void>>()
  /** The roll calls of group sends made with the list kept here (roll-call.ts). */
  readonly #rollCalls: RollCalls
  /** Groups whose list is to be asked for again after a member joined (#listAfterJoin). */
  readonly #listsAfterJoin = new Map<string, NodeJS.Timeout>()
  /** Signed in elsewhere: this session must not take the account back by reconnecting. */
  #replaced = false
  /** Subscribed to the rendezvous's events: signed in there, and told what happens. */
  #live = false
  /** The presence last known for each user (#presenceIsNews), and until when a user coming
   * online is taken for a sign-in again at a rendezvous that came back. */
  readonly #presenceShown = new Map<string, boolean>()
  #presenceQuietUntil = 0
  /** Presence said at most once per user every PRESENCE_HOLD_MS. */
  readonly #presenceLines = new PresenceLines((user, online) => { this.#emit({ event: 'presence', user, online }) }, user => this.store.isBlocked(user))
  readonly #presenceQuietMs: number
  /** Whose presence we knew, and what it was, when the rendezvous went away (#recheckPresence). */
  #presenceWhenLost: Array<[Username, boolean]> = []
  /** Shown in the hellos of our direct streams, so receivers need not ask who we are. */
  readonly #nameCard: NameCardHolder

  constructor (options: SessionOptions) {
    this.username = toUsername(options.username)
    this.wrapKey = options.wrapKey
    this.#authKey = options.authKey
    this.#addrs = options.addrs
    this.#onReplaced = options.onReplaced
    this.#presenceQuietMs = options.presenceQuietMs ?? PRESENCE_QUIET_AFTER_RECONNECT_MS
    this.#rendezvous = options.rendezvous
    this.#direct = options.direct
    this.#groups = options.groups
    this.#gate = options.gate
    this.#emit = options.emit
    const userDir = join(options.dataDir, options.username)
    this.downloadsDir = join(userDir, 'downloads')
    // One rendezvous client for the session's life (app.ts makes a new one only after closing
    // the session): the directory and the keyring are given it as their port, not a way to find it.
    const rendezvous = options.rendezvous
    this.store = new PeerStore(join(userDir, 'parley.db'), options.wrapKey)
    this.directory = new Directory(rendezvous, this.store, options.emit, { nameCardIssuer: () => rendezvous.serverPeerId })
    this.#nameCard = new NameCardHolder(rendezvous)
    this.inbox = new Inbox(this.store, this.directory, options.emit)
    this.keyring = new GroupKeyring({
      username: this.username,
      wrapKey: this.wrapKey,
      store: this.store,
      rendezvous,
      emit: options.emit,
      sign: async data => await options.identity.sign(data),
      pinnedPeerId: username => this.store.pinnedPeerId(username),
      handOver: async (to, group, epoch, key) => { await this.#handOver(to, group, epoch, key) }
    })
    this.outbox = new Outbox(this.store, this.directory, options.emit, {
      deliver: async (item, to, onSent, after) => await this.#deliver(item, to, onSent, after),
      connected: peerId => this.#direct.connected(peerId)
    }, options.reportedQueued)
    // What the parts report becomes outbox flushes here, and nowhere else.
    // Deliveries to this group waited for the key: every recipient may now be served.
    this.keyring.on('key', () => { this.outbox.flushAll() })
    // Deliveries to this member that failed while it had no key can go now.
    this.keyring.on('handed-over', (_group, username) => { this.outbox.flush(username) })
    this.#rollCalls = new RollCalls({
      self: this.username,
      unconfirmed: group => this.store.unconfirmedSends(group),
      due: () => this.store.groupsUnconfirmed(),
      joinTimes: async group => await rendezvous.joinTimes(group),
      settle: async (group, late, settled) => {
        // It answered: the keyring asks it again rather than going on with the list kept (which
        // lacks these members, and would have their deliveries withdrawn as if they had left).
        this.keyring.rendezvousBack()
        this.keyring.invalidate(group)
        for (const item of late) log.warn(`${item.recipient} had joined ${group} before a message sent with the list kept here: sent to them too`)
        await this.outbox.submit(null, late, undefined, () => { this.store.confirmSends(group, settled.map(send => send.id)) })
      },
      away: rendezvousAway
    }, this.#signedOut.signal)
    this.user = {
      username: this.username,
      inbox: this.inbox,
      keys: this.keyring,
      downloadsDir: this.downloadsDir,
      signal: this.#signedOut.signal,
      nameCard: () => this.#nameCard.current(),
      track: work => {
        const settled = work.then(() => {}, () => {})
        this.#served.add(settled)
        void settled.then(() => { this.#served.delete(settled) })
      }
    }
  }

  /** The members of each group as last seen here: from the store at start, then as the news of
   * joins and leaves comes and as each sign-in at the rendezvous finds them (#sayWhoCameAndWent). */
  #membersSeen = new Map<string, string[]>()
  /** The tidying of what the last run left mid-file (start). */
  #tidied: Promise<void> = Promise.resolve()
  /** A session with a peer (either side opened it) means it is reachable: its queue goes now. */
  readonly #onSessionOpen = (peer: SessionPeer): void => { this.outbox.flush(peer.username) }

  /** `offline`: signed in from the data folder alone; the rendezvous is tried in the background. */
  async start (offline = false): Promise<void> {
    // Before anything asks the rendezvous: the members as last seen here, to tell what changed.
    this.#membersSeen = this.keyring.membersLastSeen()
    // Before anything can come in: what arrived as the last run stopped, and was never shown.
    const unshown = this.store.takeUnshown()
    if (unshown.length > 0) this.#emit({ event: 'unshown', conversations: unshown })
    this.#direct.on('session-open', this.#onSessionOpen)
    this.#gate.open(this.user)
    // What the last run left in the downloads folder mid-file is put with the kept parts.
    this.#tidied = tidyPartials(this.downloadsDir)
    this.#background(this.#tidied)
    if (offline) {
      // Not "lost the rendezvous": the sign-in (`logged-in`, offline) already said it is away.
      this.#background(this.#reconnect({ tell: false }))
    } else {
      await this.#subscribe()
      await this.#nameCard.renew() // before the first message goes out: its hello shows it
    }
    this.outbox.start()
    this.outbox.flushAll()
    // (Offline, the hand-overs wait for the rendezvous: #reconnect does them once it is back.)
    if (!offline) this.#background(this.#afterSignIn())
  }

  /** JOIN: the members already there do not dial a newcomer, so we open the sessions with them. */
  openSessionsIn (group: GroupName): void {
    this.#background(this.#openSessions({ groups: [group] }))
  }

  /** TRUST: a session with the user now accepted, whose side sends what it held for us as it
   * opens (until 2026-12-06 that waited for its next retry, 15 s or more: round 10). */
  openSessionWith (user: Username): void {
    this.#background(this.#openSessions({ groups: [], contacts: [user] }))
  }

  /** After a sign-in (and a reconnect): our keys to the members who lack them, then sessions with
   * the online members of all our groups and the users of our recent direct conversations, ahead
   * of a message (groups/warm-sessions.ts). One `groups` request for both, and the sessions reuse
   * the member lists the hand-overs fetched. A failed hand-over is a warning for the person; the
   * sessions, which nobody waits for, report to the log only. */
  async #afterSignIn (): Promise<void> {
    // Sends made with a kept list, also by an earlier run: their roll call.
    this.#rollCalls.all()
    const { groups } = await this.#rendezvous.groups()
    this.#background(this.#sayWhoCameAndWent(groups.map(g => g.group)))
    this.#background(this.#dropPartsNotComing(new Set(groups.map(g => g.group))))
    try {
      await this.keyring.handOverAll(groups)
    } finally {
      let contacts: Username[] = []
      try {
        contacts = this.store.recentContacts(Date.now() - RECENT_CONTACTS_MS, RECENT_CONTACTS_MAX)
      } catch (err) {
        // After sign-out the store is closed: nothing to open sessions for, and nothing to say.
        if (!this.#signedOut.signal.aborted) log.warn('no recent contacts to open sessions with', err)
      }
      await this.#openSessions({ groups: groups.map(g => g.group), contacts })
    }
  }

  /**
   * At a sign-in, and at each sign-in again after the rendezvous was lost: who joined and who
   * left our groups meanwhile, against the members last seen here (round 38: a leave while we
   * were away was never said; `MEMBERS` alone showed it). A group first seen now has nothing to
   * compare with. What the news said live is seen already (until that day's audit, a sign-in again
   * after a rendezvous restart said it once more, "while you were away").
   */
  async #sayWhoCameAndWent (groups: GroupName[]): Promise<void> {
    for (const group of groups) {
      // The rendezvous's own answer only (a cached one too: the sign-in's hand-overs and sessions
      // ask for the same lists, and one request serves all): the last known list (while it is
      // slow to answer, just back) lacks who joined since it was kept, and read as their leaving
      // (a CI run: "dave left (while you were away)", then "dave joined").
      const answer = await this.keyring.answered(group).catch(() => undefined)
      if (answer === undefined || !answer.answered) continue
      const now: string[] = answer.info.members.map(member => member.username)
      const before = this.#membersSeen.get(group)
      this.#membersSeen.set(group, now)
      if (before === undefined) continue
      for (const user of now) if (user !== this.username && !before.includes(user)) this.#emit({ event: 'member-joined', group, user, whileAway: true })
      for (const user of before) if (user !== this.username && !now.includes(user)) this.#emit({ event: 'member-left', group, user, whileAway: true })
    }
  }

  /** The news of a join or a leave, live: seen. */
  #sawMembership (group: string, user: string, joined: boolean): void {
    const seen = this.#membersSeen.get(group)
    if (seen === undefined) return
    this.#membersSeen.set(group, joined ? [...new Set([...seen, user])] : seen.filter(name => name !== user))
  }

  /**
   * At sign-in: what is kept of group files cut earlier whose rest will not come, removed and
   * said, as it is when their sender leaves while we are here (#onRendezvousEvent): their sender
   * left the group meanwhile (its outbox dropped them), or we did. Until 2026-12-07 the part
   * stayed a week, and its last word was that the sender sends it again (round 38).
   */
  async #dropPartsNotComing (ours: Set<string>): Promise<void> {
    await this.#tidied // a part it has in hand is not dropped
    const pairs = new Map<string, { group: string, sender: string }>()
    for (const kept of await keptGroupParts(this.downloadsDir)) pairs.set(`${kept.group}\0${kept.sender}`, kept)
    for (const { group, sender } of pairs.values()) {
      if (!ours.has(group)) {
        await this.#dropPartsOf(group, sender, `you are no longer in ${group}`)
        continue
      }
      // Not known now (the rendezvous away): kept, as before; the next sign-in looks again.
      const info = await this.keyring.info(group).catch(() => undefined)
      if (info !== undefined && !info.members.some(member => member.username === sender)) await this.#dropPartsOf(group, sender, `${sender} left ${group}`)
    }
  }

  /** Remove what is kept of `sender`'s files cut in `group`, and say each (`file-cut`, `left`). */
  async #dropPartsOf (group: string, sender: string, why: string): Promise<void> {
    for (const part of await dropGroupPartials(this.downloadsDir, group, sender)) {
      this.#emit({ event: 'file-cut', id: part.id, from: part.sender, group, name: part.name ?? 'a file', bytes: part.bytes, total: part.size, cause: 'left', reason: why })
    }
  }

  async #openSessions (targets: WarmTargets): Promise<number> {
    return await warmSessions({
      self: this.username,
      // Fresh enough: a list at most MEMBERS_CACHE_MS old, and the directory says who is online.
      members: async group => (await this.keyring.info(group)).members,
      connected: peerId => this.#direct.connected(peerId),
      resolve: async username => await this.directory.resolve(username),
      open: async to => { await this.#direct.openSession(to) },
      quiet: async () => await loopQuiet(this.#signedOut.signal, WARM_BUSY_GIVE_UP_MS),
      signal: this.#signedOut.signal
    }, targets)
  }

  async #subscribe (): Promise<void> {
    await this.#rendezvous.subscribe(event => { this.#onRendezvousEvent(event) }, this.#abort.signal)
    this.#live = true
  }

  /** Signed in at the rendezvous and receiving its events now (not signed in from the data
   * folder alone, reconnecting, stopped, or replaced by a sign-in elsewhere). */
  get live (): boolean {
    return this.#live
  }

  /** LOGIN again while live: the rendezvous kept this session, and only the key it takes may be
   * new (the password's parameters were upgraded); the next sign-in by itself needs that one. */
  signedInAgain (authKey: Uint8Array): void {
    this.#authKey = authKey
  }

  /**
   * The rendezvous went away (restart, network): sign in again with backoff. Meanwhile messages
   * to peers we already know still go directly, with the addresses the directory gave last.
   */
  async #reconnect ({ tell } = { tell: true }): Promise<void> {
    if (tell) this.#emit({ event: 'rendezvous', connected: false })
    this.#rendezvous.signingInAgain()
    const signal = this.#abort.signal
    let toldAnother = false
    for (let attempt = 0; !signal.aborted; attempt++) {
      const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_FIRST_MS * 2 ** attempt) * (0.75 + Math.random() / 2)
      try {
        await sleep(delay, undefined, { signal })
        const failed = failedSignInsWarning(this.username, await signInBound(this.#rendezvous, { username: this.username, authKey: this.#authKey, addrs: this.#addrs(), resume: true }, 'another'))
        if (failed !== undefined) this.#emit(failed)
        // Before the events stream opens: its first presence events can be read before the
        // subscription's own answer is (a CI run printed "bob is online" for a bob who signed in
        // again just then; until 2026-12-06 the window opened after the subscription).
        this.#presenceQuietUntil = Date.now() + this.#presenceQuietMs
        await this.#subscribe()
      } catch (err) {
        // The rendezvous is back but will not have us (the account is gone, its password or
        // identity changed): trying again cannot help, and the person must hear of it.
        // A person signed the account in since, here or on another device: as if told so while
        // connected (session-replaced), this sign-in ends (round 46: a device waking from sleep
        // took the account back from the one signed in meanwhile).
        if (is(err, ErrorCode.Conflict)) {
          this.#replaced = true
          this.#onReplaced()
          return
        }
        if (is(err, ErrorCode.BadCredentials) || is(err, ErrorCode.IdentityChanged)) {
          this.#emit({ event: 'error', code: asParleyError(err).code, message: `the rendezvous no longer accepts your sign-in (${asParleyError(err).message}); LOGIN again to reconnect${is(err, ErrorCode.BadCredentials) ? ' (with the new password, if it was changed on another device)' : ''}, or SIGNUP if the rendezvous lost your account. Known contacts are still reached directly`, at: Date.now() })
          log.warn('the rendezvous no longer accepts our sign-in; reconnecting stopped', err)
          this.#rendezvous.signInRefused()
          return
        }
        // Another node at the rendezvous's address (it restarted with a new identity, or an
        // impostor): said once, since the person has something to do; the pinned one may come
        // back, so the tries go on. Until 2026-12-05 only the log knew, and the person saw
        // nothing but Noise's words when a command needed the rendezvous.
        if (!toldAnother && answeredByAnother(err)) {
          toldAnother = true
          this.#emit({ event: 'warning', code: ErrorCode.IdentityChanged, message: asParleyError(err).message })
        }
        // Still away (or we are stopping: the loop condition ends it). The same failure again
        // is counted by the log, not written each time.
        if (!signal.aborted) log.warn('signing in to the rendezvous again failed; trying again', err)
        continue
      }
      this.#emit({ event: 'rendezvous', connected: true })
      this.keyring.rendezvousBack()
      await this.#nameCard.renew()
      this.outbox.flushAll()
      this.#background(this.#afterSignIn())
      this.#background(this.#recheckPresence())
      return
    }
  }

  /**
   * A rendezvous that came back knows nothing of who was online before: a contact who went away
   * meanwhile is never said to be offline (its sign-out was never seen: round 9), one who came
   * back meanwhile is never said to be online (it signed in again before we watched it: round
   * 14), and the contacts we looked up on the one before are not watched for presence on this
   * one. Once everyone around has had time to sign in again, each contact whose presence we knew
   * (at most PRESENCE_RECHECK_MAX, those online first) is looked up, which watches them again,
   * and a change is said, as a pushed presence would have said it.
   */
  async #recheckPresence (): Promise<void> {
    // What we knew as the rendezvous went: taken then, for the look-ups made on the way back
    // (sessions opened ahead at sign-in) would record a contact who left as offline unsaid
    // (round 10, when no "carol is online" had been shown in this sign-in).
    const known = this.#presenceWhenLost
    await sleep(this.#presenceQuietMs, undefined, { signal: this.#abort.signal })
    for (const [username, wasOnline] of known) {
      if (!this.#live) return // away again: the next reconnect checks again
      let online: boolean
      try {
        online = (await this.directory.resolve(username)).online
      } catch (err) {
        log.warn(`could not look ${username} up again after the rendezvous came back`, err)
        continue
      }
      // Not if a pushed presence said it meanwhile.
      if (online === (this.#presenceShown.get(username) ?? wasOnline)) continue
      this.#presenceShown.set(username, online)
      this.#presenceLines.change(username, online)
    }
  }

  /** The presence last known of each user: said so, or (nothing said) answered so by the
   * directory; at most PRESENCE_RECHECK_MAX, those online first. */
  #knownPresence (): Array<[Username, boolean]> {
    const shown = [...this.#presenceShown].map(([username, online]): [Username, boolean] => [toUsername(username), online])
    const answered = this.directory.lastAnswers().filter(([username]) => !this.#presenceShown.has(username))
    const known = [...shown, ...answered]
    return [...known.filter(([, online]) => online), ...known.filter(([, online]) => !online)].slice(0, PRESENCE_RECHECK_MAX)
  }

  /** Work that runs on its own: a failure is reported, never thrown into nowhere. */
  #background (work: Promise<unknown>): void {
    work.catch(err => {
      const error = asParleyError(err)
      // Work cut short by the sign-out itself (the node stopping under it) is no news: until
      // 2026-12-05 a QUIT right after sign-in printed "warning: the stream was closed by the
      // other side" after "Bye."; nor is it written to the log, as the README says (until
      // 2026-12-06 it was: round 12).
      if (this.#abort.signal.aborted) return
      this.#emit({ event: 'warning', code: error.code, message: error.message })
    })
  }

  /** Sign out; resolves with what is left behind: the deliveries that still wait in the outbox,
   * counted once the last ones in flight ended (a file that finished during the grace is not
   * among them), and the group sends that still wait for their roll call. */
  async close (graceMs = CLOSE_GRACE_MS): Promise<LeftBehind> {
    this.#closing ??= this.#close(graceMs)
    return await this.#closing
  }

  async #close (graceMs: number): Promise<LeftBehind> {
    this.#abort.abort()
    this.#presenceLines.stop()
    for (const timer of this.#listsAfterJoin.values()) clearTimeout(timer)
    this.#nameCard.stop()
    this.outbox.stop()
    // Messages in flight get a moment (graceMs) for their acks; what is still unacknowledged
    // then stays queued for the next session (the receiver drops a copy it already has). The
    // sign-out then ends what is still under way, files too (they resume next time from what
    // the receiver kept; until 2026-12-05 a file being sent held Ctrl-C until its last byte).
    // No grace (0): an interrupted exit, whose drain was the grace, or this account signed in
    // elsewhere, where what comes in from then on must go to the other device.
    if (graceMs > 0) await Promise.race([this.outbox.idle(), sleep(graceMs)])
    this.#direct.off('session-open', this.#onSessionOpen)
    this.#signedOut.abort()
    // What came in ends with the sign-out; a file cut by it keeps its part and says so (file-cut,
    // `signed-out`) before `bye` (until 2026-12-06 the program ended first: nothing was said and
    // the part was left half kept in the downloads folder, a tester's finding).
    await Promise.race([Promise.all(this.#served), sleep(SERVED_GRACE_MS)])
    // Group texts held for their catch-up's order (catch-up-order.ts) are shown before `bye`,
    // and what was shown gets a moment to leave the process before the shown mark closes.
    this.inbox.showHeld()
    await Promise.race([this.store.shown.settled(), sleep(SHOWN_GRACE_MS)])
    // A delivery stuck on a peer that stopped answering (frozen, its network gone) waits out its
    // step's timeout whatever the sign-out says: a LOGIN of another account took 13 s, 28 s
    // mid-file, with nothing on the screen (round 7). It is not waited for past a moment: the
    // store closes under it, which the outbox takes as the normal end (it stays queued, goes
    // again at the next sign-in, and a receiver drops a copy it has), and the node's stop or
    // restart after this ends its stream.
    await Promise.race([this.outbox.idle(), sleep(OUTBOX_STOP_GRACE_MS)])
    const left = { pending: this.store.outboxSize(), unconfirmed: this.store.unconfirmedCount() }
    this.store.close()
    return left
  }

  /** SEND: store it and queue it in one commit, then deliver it (now if the user is reachable,
   * else later). Returns once it is taken, not durable: it joins the group commit at the end of
   * this turn of the event loop (Outbox.accept), so a burst of SEND lines, which the command
   * line runs one at a time, shares one commit instead of paying an fsync each (issue 11). It
   * is promised to nobody before then: `durable` is called with its id once it is on disk, and
   * `queued`/`sent`/`delivered` all follow. (Until 2026-12-06 the promise, the `accepted` event,
   * came at once: a sender killed in that moment lost messages it had said it took, 134 of a
   * burst of 400 in a tester's run.) The promise returned settles then (or once a failure to
   * store it was reported): it never rejects. */
  sendText (to: Username, text: string, durable: (id: MessageId) => void): Promise<void> {
    // Said as VERIFY and HISTORY say it (until 2026-12-06 a bare 'that is you': round 19).
    if (to === this.username) throw new ParleyError(ErrorCode.Usage, 'that is you: SEND <user> <message> sends to another user; nothing was sent')
    const id = toMessageId(newMessageIdHex())
    const at = Date.now()
    return this.outbox.accept(
      { id, direction: 'out', peer: to, group: null, kind: 'text', body: text, path: null, status: 'queued', at },
      [{ id, recipient: to, group: null, kind: 'text', body: text, created: at }],
      () => { durable(id) })
  }

  /** SENDFILE (the caller has checked that `to` exists): the file is read when it is delivered,
   * so it must stay where it is until then, with the content it has now (hashed here): a changed
   * file is not delivered. Hashed after every check, as a file may be gigabytes: until
   * 2026-12-06 it was read whole before being told the recipient does not exist. */
  async sendFile (to: Username, path: string, durable: (sent: SentFile) => void = () => {}, signal?: AbortSignal): Promise<void> {
    if (to === this.username) throw new ParleyError(ErrorCode.Usage, 'that is you: SENDFILE <file> <user> sends to another user; nothing was sent')
    const id = toMessageId(newMessageIdHex())
    const file = await fileToQueue(path, this.#reading(id, to), signal)
    const at = Date.now()
    await this.outbox.submit(
      { id, direction: 'out', peer: to, group: null, kind: 'file', body: file.name, path: file.path, status: 'queued', at },
      [{ id, recipient: to, group: null, kind: 'file', body: file.path, sha256: file.sha256, created: at }],
      () => { durable({ id, name: file.name }) })
  }

  /** SENDGROUP: settle the key (rotating or handing it over first), then queue one delivery per
   * member. Without the key yet (another member made it) the deliveries are queued anyway and
   * wait for it in the outbox. */
  async sendGroupText (group: GroupName, text: string, durable: (id: MessageId) => void = () => {}): Promise<void> {
    await this.#fanOut(group, { kind: 'text', text }, ({ id }) => { durable(id) })
  }

  /** SENDGROUPFILE: the same, with the file read at delivery time (as SENDFILE), and hashed only
   * once the group is known to have us and someone else in it. */
  async sendGroupFile (group: GroupName, path: string, durable: (sent: SentFile) => void = () => {}, signal?: AbortSignal): Promise<void> {
    await this.#fanOut(group, { kind: 'file', path, signal }, ({ id, shown }) => { durable({ id, name: shown }) })
  }

  /** Queue one message to every other member; its id, and what the history shows of it, go to
   * `durable` once it is stored, before any event about its deliveries (the one answer: the
   * outbox may say `queued` before this resolves). */
  async #fanOut (group: GroupName, what: { kind: 'text', text: string } | { kind: 'file', path: string, signal?: AbortSignal | undefined }, durable: (queued: { id: MessageId, shown: string }) => void): Promise<void> {
    const { info, lastKnown } = await this.keyring.keyForSending(group).catch((err: unknown) => {
      // The rendezvous away, and the group not known here without it: said as not sent, which
      // its own words ("did not answer within 15 s") left open (round 16).
      if (!is(err, ErrorCode.Unreachable)) throw err
      throw new ParleyError(ErrorCode.Unreachable, `${asParleyError(err).message}, and ${group} is not known here without it: nothing was sent; try again when it answers`, { cause: err })
    })
    const others = info.members.filter(m => m.username !== this.username)
    // Said, not kept silently: a message nobody would get is no message, and a --json client
    // waits for an answer (until 2026-12-06 it got none). The group's key is made all the same
    // (keyForSending), so a member who joins later gets it even while we are away.
    // With the list kept here (the rendezvous away), that is only as last known: members who
    // joined since are not on it (round 44: "nobody else is in trip yet", with two in it).
    if (others.length === 0) {
      throw new ParleyError(ErrorCode.NotFound, lastKnown
        ? `nobody else is in ${group} as last known here, and the rendezvous is away to say who joined since: nothing was sent; send it again once it answers`
        : `nobody else is in ${group} yet: nothing was sent`)
    }
    // A file is hashed only now, when the group has someone to get it (it may be gigabytes).
    const id = toMessageId(newMessageIdHex())
    const { shown, path, delivery } = what.kind === 'text' ? textParts(what.text) : await fileParts(what.path, this.#reading(id, group), what.signal)
    const created = Date.now()
    const { kind } = what
    const record = { id, direction: 'out', peer: this.username, group, kind, body: shown, path, status: 'sent', at: created } as const
    // The history row and every member's delivery are one transaction: a crash cannot leave a
    // message that is shown as sent but never goes out (issue 11).
    const items = others.map(member => ({ id, recipient: member.username, group, kind, ...delivery, created }))
    // Sent with the list kept here: kept for its roll call (roll-call.ts), in the same commit,
    // and the roll call asked for now.
    const unconfirmed = lastKnown ? { id, group, kind, ...delivery, created, recipients: others.map(m => m.username) } : undefined
    await this.outbox.submit(record, items, () => { durable({ id, shown }) }, unconfirmed === undefined ? undefined : () => { this.store.keepUnconfirmed(unconfirmed) })
    if (unconfirmed !== undefined) this.#rollCalls.soon(group)
  }

  /** A member joined: the group's list is asked for again shortly after, in the background, so
   * that the list kept for while the rendezvous is away has them (the member-joined event does
   * not say what a member entry needs, their peer id). Until 2026-12-07 a group's creator that
   * had neither sent to it nor run MEMBERS kept no list at all, and while the rendezvous was away
   * its SENDGROUP was refused and MEMBERS failed (round 24). Joins that come together are asked
   * for once; one after the request schedules another. */
  #listAfterJoin (group: GroupName): void {
    if (this.#listsAfterJoin.has(group)) return
    const timer = setTimeout(() => {
      this.#listsAfterJoin.delete(group)
      if (this.#signedOut.signal.aborted) return
      this.keyring.info(group, true).catch((err: unknown) => { log.warn(`the list of ${group} was not asked for again after a join`, err) })
    }, LIST_AFTER_JOIN_MS * (1 + Math.random()))
    timer.unref()
    this.#listsAfterJoin.set(group, timer)
  }

  /** How far a file SENDFILE or SENDGROUPFILE (`id`, to `peer`) takes is read for its hash, as
   * `progress` events (direction `read`): a large file takes seconds (about 0.5 s for 200 MB
   * here), and nothing was said meanwhile (round 7: 8 s with another file coming in). */
  #reading (id: MessageId, peer: string): (read: { name: string, bytes: number, total: number }) => void {
    return read => { this.#emit({ event: 'progress', id, direction: 'read', peer, ...read }) }
  }

  /** One queued item to a reachable contact (the outbox's deliverer). A group item first gets
   * its key, handed to the recipient if it lacks it (GroupKeyring.keyForDelivery). */
  async #deliver (item: OutboxItem, to: PeerContact, onSent: () => void, after: MessageId | undefined): Promise<Posted> {
    const id = Buffer.from(item.id, 'hex')
    const follows = after === undefined ? undefined : Buffer.from(after, 'hex')
    if (item.group !== null) {
      const { group, recipient } = item
      // Waiting on the group (its key, its list), the recipient's other conversations go on.
      const { epoch, key } = await this.keyring.keyForDelivery(group, recipient).catch((err: unknown) => { throw waitsOnGroup.add(err) })
      // The member may have left after that check: their refusal says so (round 12).
      const refused = async (err: unknown): Promise<never> => { throw await this.keyring.asRefusalByLeaver(group, recipient, err, item.created) }
      try {
        const posted = await this.#groups.deliver(to, { id: item.id, group, kind: item.kind, body: item.body, sha256: item.sha256, created: item.created, epoch, key }, onSent, follows)
        return { acked: posted.acked.catch(refused) }
      } catch (err) {
        return await refused(err)
      }
    }
    if (item.kind === 'text') return await this.#direct.post(to, { kind: 'MSG' }, id, { id, text: item.body, sentAt: item.created }, onSent, follows)
    await this.#direct.sendFile(to, id, item.body, item.sha256, item.created, onSent)
    return { acked: Promise.resolve() }
  }

  /** The keyring's hand-over: through the directory, not the member list alone: it checks the
   * peer id against our pin (a rendezvous that swapped a member's id gets no key) and gives
   * current addresses. */
  async #handOver (to: GroupMember, group: string, epoch: number, key: Uint8Array): Promise<void> {
    const contact = await this.directory.resolve(to.username)
    if (contact.peerId !== to.peerId) {
      throw new ParleyError(ErrorCode.IdentityChanged, `the member list and the directory disagree on the identity of ${to.username}`)
    }
    await this.#direct.sendGroupKey(contact, group, epoch, key)
  }

  /**
   * Is this presence news to the person? Not when it repeats what we last said (a takeover by
   * another device is announced as presence too), nor, just after the rendezvous came back, a
   * user coming online whom we never saw go: a restarted rendezvous announces everyone signing
   * in again (until 2026-12-06 each peer then printed "… is online" for all its contacts).
   */
  #presenceIsNews (username: Username, online: boolean): boolean {
    // Nothing said yet: what the directory last answered counts as known (a sign-in on another
    // device is pushed as "online" for a user the directory already showed online: until
    // 2026-12-06 a contact who had heard nothing of bob yet printed "bob is online").
    const shown = this.#presenceShown.get(username)
    const last = shown ?? this.directory.answeredOnline(username)
    this.#presenceShown.set(username, online)
    if (last === online) return false
    // Just after the rendezvous came back, only one we said had gone is news: a look-up made then
    // answers "offline" for a contact who has not signed in there again yet (a CI run printed
    // "bob is online" for a bob who never went away; until 2026-12-06 that answer counted).
    return !(online && shown !== false && Date.now() < this.#presenceQuietUntil)
  }

  #onRendezvousEvent (event: RendezvousEvent): void {
    switch (event.type) {
      case 'presence': {
        // Online again while online, outside the minutes after the rendezvous came back (when
        // everyone signs in again): the account signed in from another connection, maybe on
        // another device, and a connection we hold may be to one that froze (round 47).
        const signedInElsewhere = event.online && Date.now() >= this.#presenceQuietUntil &&
          (this.#presenceShown.get(event.username) ?? this.directory.answeredOnline(event.username)) === true
        const peerId = this.store.pinnedPeerId(event.username)
        if (signedInElsewhere && peerId !== undefined && this.#direct.connected(peerId)) this.#background(this.#direct.checkAlive(peerId))
        this.directory.presence(event.username, event.online)
        // (Nor is a blocked user's coming and going said: round 47.)
        if (this.#presenceIsNews(event.username, event.online)) this.#presenceLines.change(event.username, event.online)
        if (event.online) this.outbox.flush(event.username)
        break
      }
      case 'key-needed':
        this.#background(this.keyring.onKeyNeeded(event.group, event.epoch, event.username))
        break
      case 'member-joined':
      case 'member-left':
        if (event.type === 'member-left') {
          this.keyring.memberLeft(event.group, event.username)
          // Its outbox dropped the group's files it had not sent whole: what came of them goes.
          this.#background(this.#dropPartsOf(event.group, event.username, `${event.username} left ${event.group}`))
        } else {
          this.keyring.memberJoined(event.group)
          this.#listAfterJoin(event.group)
        }
        // Members see who comes and goes (issue 12 item 2; a joiner gets the key automatically).
        this.#sawMembership(event.group, event.username, event.type === 'member-joined')
        this.#emit({ event: event.type, group: event.group, user: event.username, whileAway: false })
        break
      case 'rotation-needed':
        this.keyring.invalidate(event.group)
        break
      case 'disconnected':
        this.#live = false
        this.#presenceWhenLost = this.#knownPresence()
        // Presence is not tracked while we are away: nothing cached may be trusted after.
        this.directory.forget()
        this.keyring.invalidateAll()
        if (!this.#abort.signal.aborted && !this.#replaced) this.#background(this.#reconnect())
        break
      case 'session-replaced':
        // Not a warning to live with (until 2026-12-05 it was, and this peer, still answering as
        // the user, went on taking their messages): the owner signs out here and says so.
        this.#replaced = true
        this.#live = false
        this.#onReplaced()
        break
      default:
        break
    }
  }
}

/** What a group send keeps of a text: it is both what the history shows and what goes out. */
function textParts (text: string): { shown: string, path: null, delivery: { body: string } } {
  return { shown: text, path: null, delivery: { body: text } }
}

/** What a group send keeps of a file: the history shows its name and keeps its path; each
 * delivery reads the path and checks the content against the hash taken now. */
async function fileParts (given: string, onRead: Parameters<typeof fileToQueue>[1], signal: AbortSignal | undefined): Promise<{ shown: string, path: string, delivery: { body: string, sha256: string } }> {
  const file = await fileToQueue(given, onRead, signal)
  return { shown: file.name, path: file.path, delivery: { body: file.path, sha256: file.sha256 } }
}
