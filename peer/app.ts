/**
 * The peer process: one libp2p node (restarted under the user's identity at sign-in) with its
 * two protocol services, the rendezvous client, and at most one signed-in Session. Every CLI
 * command lands on a method here; each returns nothing and reports through `emit`, or throws a
 * ParleyError.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { createParleyNode } from '../common/node.ts'
import type { ParleyNode } from '../common/node.ts'
import { ErrorCode, ParleyError, asParleyError, is } from '../common/errors.ts'
import type { GroupName, MessageId, Username } from '../common/wire/names.ts'
import { MAX_TEXT_BYTES } from '../common/wire/limits.ts'
import { FailedHere, changePassword, checkCurrentPassword, failedSignInsWarning, signIn, signInBound, signUp } from './account.ts'
import type { AccountHost, SignedIn, UnsettledChange } from './account.ts'
import type { Emit, HistoryLine, PeerEvent } from './events.ts'
import { RendezvousClient, mayHaveBeenDone, rendezvousAway, rendezvousOutOfReach } from './rendezvous-client.ts'
import type { SignupArgs } from './rendezvous-client.ts'
import { Session } from './session.ts'
import type { LeftBehind } from './session.ts'
import { dropGroupPartials, dropPartialsFrom } from './files/index.ts'
import { directService } from './direct/service.ts'
import type { DirectService } from './direct/service.ts'
import { groupService } from './groups/service.ts'
import type { GroupService } from './groups/service.ts'
import { SignedInGate } from './signed-in.ts'
import { ANSWER_PATIENCE_MS, HISTORY_DEFAULT, HISTORY_MAX, HISTORY_MAX_BYTES, WHO_CONTACTS } from './constants.ts'
import { answerWithin } from '../common/patient-timeout.ts'
import { MAX_LISTED } from '../common/protocol/rendezvous.ts'
import { logger } from './log.ts'

const log = logger('parley:peer')

export interface PeerOptions {
  /** Our own listen port (0 picks one). */
  port: number
  /** Listen host: 0.0.0.0 to be reachable on a LAN. */
  host: string
  /** Where the rendezvous is (resolved by the caller: flag, mDNS or the default). */
  rendezvous: Multiaddr
  /** `rendezvous` has no peer id (nobody answered there when the peer started): called with the
   * address and the id once a connection learns it, to pin it (rendezvous-pin.ts). */
  onRendezvousIdentified?: (server: Multiaddr) => Promise<void>
  /** Where the rendezvous is now, when it was not given (mDNS): asked when it cannot be reached. */
  findRendezvous?: () => Promise<Multiaddr | undefined>
  dataDir: string
  emit: Emit
}

/** A sign-out for another account's sign-in is said (`signing-out`) once it takes this long. */
const SIGN_OUT_SAID_AFTER_MS = 1_000

/** The node's protocol services: they live as long as the node. */
interface Services {
  direct: DirectService
  groups: GroupService
}

export class ParleyPeer {
  readonly #options: PeerOptions
  readonly #emit: Emit
  /** Events waiting for a sign-in's announcement (#open), or undefined: they go out at once. */
  #held: Array<{ event: PeerEvent, shown?: () => void }> | undefined
  /** The account whose session a sign-in closed, until that sign-in is announced (or fails). */
  #closedForSignIn: { username: string, left: LeftBehind } | undefined
  #node: ParleyNode
  #services: Services
  #rendezvous: RendezvousClient
  /** The rendezvous's address: the one given, with its peer id once that is learnt. */
  #rendezvousAt: Multiaddr
  #session: Session | undefined
  /** Groups whose CREATE, JOIN or LEAVE went unanswered, by the ticket of the one to settle. */
  readonly #unsettled = new Map<GroupName, symbol>()
  /** Wrong passwords typed here, not to be said as someone else's at the next sign-in. */
  readonly #failedHere = new FailedHere()
  /** The sign-in #session was opened with: what signs its user in again if switching fails. */
  #account: SignedIn | undefined
  /** Who is signed in, for the protocols: streams that arrive while a sign-in is still opening
   * its session wait for it there. */
  readonly #gate = new SignedInGate()

  /** The identity VERIFY last showed per user (this sign-in): the only one TRUST may accept. */
  readonly #verified = new Map<string, string>()
  /** Signing out because the account signed in elsewhere: a SIGNUP or LOGIN waits for it, so
   * that the node it signs in on is not the one being replaced. */
  #signingOut: Promise<void> | undefined
  /** The last SEND's answer, settled once it is stored or its failure said (answered()). */
  #answering: Promise<void> = Promise.resolve()
  /** The outbox's items reported `queued` in this run, whichever session reported them: a
   * person told once is not told again at a later sign-in (until 2026-12-06 each session
   * started with none, and LOGIN reported every waiting message once more). */
  readonly #reportedQueued = new Set<string>()

  private constructor (options: PeerOptions, node: ParleyNode) {
    this.#options = options
    this.#emit = (event, shown) => {
      if (this.#held === undefined) options.emit(event, shown)
      else this.#held.push({ event, shown })
    }
    this.#node = node
    this.#services = this.#servicesOf(node)
    this.#rendezvousAt = options.rendezvous
    this.#rendezvous = this.#rendezvousClient(node)
  }

  /** A client of the rendezvous for `node`; the first to learn its peer id has it pinned, and
   * every later client (and node's relay) is given it: whoever answers there afterwards must be
   * that one. Until 2026-12-07 a folder whose first start found the rendezvous frozen was never
   * pinned in that run, whatever it signed in to (round 23). */
  #rendezvousClient (node: ParleyNode): RendezvousClient {
    return new RendezvousClient(node, this.#rendezvousAt, undefined, server => {
      if (this.#rendezvousAt.equals(server)) return
      this.#rendezvousAt = server
      this.#options.onRendezvousIdentified?.(server).catch((err: unknown) => { log.warn('could not pin the rendezvous', err) })
    }, this.#options.findRendezvous)
  }

  /** Start with a throw-away identity: enough to reach the rendezvous before anyone signs in. */
  static async start (options: PeerOptions): Promise<ParleyPeer> {
    const node = await ParleyPeer.#listen(options, await generateKeyPair('Ed25519'), options.rendezvous)
    const peer = new ParleyPeer(options, node)
    await peer.#startServices()
    peer.#emit({ event: 'ready', peerId: node.peerId.toString(), addrs: peer.#addrs(), rendezvous: options.rendezvous.toString() })
    return peer
  }

  static async #listen (options: PeerOptions, identity: PrivateKey, relayAt: Multiaddr): Promise<ParleyNode> {
    const host = options.host.includes(':') ? `/ip6/${options.host}` : `/ip4/${options.host}`
    // A slot on the rendezvous's relay: how peers behind another NAT reach us (issue 13).
    return await createParleyNode({ privateKey: identity, listen: [`${host}/tcp/${options.port}`], relay: { relayAt } })
  }

  /**
   * The peer protocols are served from the moment the node listens, before sign-in: the
   * rendezvous announces us online as the sign-in completes, and a peer that dials at once must
   * find a handler; its stream waits (at most one step) in the gate for the session that is
   * opening.
   */
  #servicesOf (node: ParleyNode): Services {
    const direct = directService({ node, signedIn: this.#gate, emit: this.#emit })
    const groups = groupService({ node, direct, signedIn: this.#gate, emit: this.#emit })
    return { direct, groups }
  }

  async #startServices (): Promise<void> {
    await this.#services.direct.start()
    await this.#services.groups.start()
  }

  async #stopServices (): Promise<void> {
    await this.#services.groups.stop()
    await this.#services.direct.stop()
  }

  #addrs (): string[] {
    return this.#node.getMultiaddrs().map(ma => ma.toString())
  }

  get username (): string | undefined {
    return this.#session?.username
  }

  async signup (name: Username, password: string): Promise<void> {
    await this.#signingOut
    await this.#keepOnFailure(async () => {
      const signed = await signUp(this.#accountHost(), name, password)
      await this.#open(signed, { event: 'signed-up', username: name, peerId: this.#node.peerId.toString() })
    })
  }

  /** SIGNUP makes the account at the rendezvous: before its password is asked for, a rendezvous
   * that cannot be reached is said to be (round 46: both passwords were asked, then "cannot
   * reach"). One slow to answer is not waited for past the patience: the password is asked. */
  async readyToSignUp (): Promise<void> {
    const connecting = this.#rendezvous.connect()
    connecting.catch(() => {}) // a late failure is the sign-up's to meet
    await answerWithin(connecting, ANSWER_PATIENCE_MS).catch((err: unknown) => {
      const cause = asParleyError(err)
      throw new ParleyError(cause.code, `${cause.message}: an account is made at the rendezvous; SIGNUP once it can be reached`, { cause: err })
    })
  }

  async login (name: Username, password: string): Promise<void> {
    await this.#signingOut
    await this.#keepOnFailure(async () => {
      const signed = await signIn(this.#accountHost(), name, password).catch((err: unknown) => {
        if (is(err, ErrorCode.BadCredentials)) this.#failedHere.note(name)
        throw err
      })
      const session = this.#session
      const event = { event: 'logged-in', username: signed.username, peerId: this.#node.peerId.toString(), offline: signed.offline === true } as const
      if (session !== undefined && session.username === signed.username && session.live && signed.offline !== true) {
        // The user signed in here, and the password is right: the rendezvous kept this session
        // (the same connection signed in again), so it stays as it is. Closing it to open a new
        // one would end the new sign-in too: its events stream, closing late, ends the session
        // the rendezvous keeps for this connection.
        session.signedInAgain(signed.authKey)
        this.#account = signed
        this.#emit({ ...event, already: true })
      } else {
        await this.#open(signed, { ...event, already: false })
      }
      // Those typed here are no news to the person who typed them (round 48: a typo a moment
      // before was said as a sign-in from another device, someone maybe guessing the password).
      const failed = failedSignInsWarning(signed.username, Math.max(0, (signed.failedSignIns ?? 0) - this.#failedHere.take(signed.username)))
      if (failed !== undefined) this.#emit(failed)
    })
  }

  /**
   * LOGIN and SIGNUP while someone is signed in: a failed attempt leaves them signed in (until
   * 2026-12-05 the session was closed first, and a wrong password signed its user out). The
   * session in hand stays open while the password is checked (a wrong one never moves the node)
   * and while a new account is made (#createAccount); it is closed only when the node must take
   * the new identity or the new session opens. If the attempt fails after that (the rendezvous
   * refuses a password that opens the identity kept here, the new session does not start), the
   * previous user is signed in again (#restore).
   */
  async #keepOnFailure (attempt: () => Promise<void>): Promise<void> {
    const previous = this.#account
    const before = this.#node.peerId.toString()
    try {
      await attempt()
    } catch (err) {
      if (previous !== undefined && this.#session === undefined) await this.#restore(previous, err)
      else if (this.#session === undefined && this.#node.peerId.toString() !== before) await this.#leaveSignIn(err)
      throw err
    }
  }

  /**
   * An attempt that signed in at the rendezvous as the account, or made it there, and then failed
   * here (the local store damaged or not writable, the data folder read-only): the node takes a
   * throw-away identity again, which ends that sign-in with its connection. Until 2026-12-07 it
   * stayed: contacts saw the user online, and their messages waited on a peer that took none,
   * 20 s each (round 29). A failure of this is logged: the attempt's own error is the one to say.
   */
  async #leaveSignIn (failure: unknown): Promise<void> {
    try {
      await this.#useIdentity(await generateKeyPair('Ed25519'))
    } catch (err) {
      log.warn(`could not leave the sign-in after it failed here (${asParleyError(failure).message})`, err)
    }
  }

  /**
   * Sign `previous` in again after a failed attempt closed its session: the node takes its
   * identity back and signs in with the authKey kept in memory, as a session does by itself when
   * the rendezvous comes back (out of reach: the session goes on from the data folder and signs in
   * when it is back). If even that fails, the error says the user is signed out: never silently.
   */
  async #restore (previous: SignedIn, failure: unknown): Promise<void> {
    try {
      await this.#useIdentity(previous.identity)
      const offline = !(await this.#signInAgain(previous))
      await this.#open({ ...previous, offline }, undefined)
    } catch (err) {
      const cause = asParleyError(failure)
      throw new ParleyError(cause.code, `${cause.message}; and ${previous.username} is signed out (signing in again failed: ${asParleyError(err).message}): LOGIN ${previous.username}`, { cause: failure })
    }
  }

  /** Sign in at the rendezvous with a sign-in's kept authKey: false if it is out of reach. */
  async #signInAgain (signed: SignedIn): Promise<boolean> {
    try {
      await signInBound(this.#rendezvous, { username: signed.username, authKey: signed.authKey, addrs: this.#addrs() }, 'another')
      return true
    } catch (err) {
      if (is(err, ErrorCode.Unreachable)) return false
      throw err
    }
  }

  #accountHost (): AccountHost {
    return {
      rendezvous: () => this.#rendezvous,
      useIdentity: async identity => { await this.#useIdentity(identity) },
      createAccount: async (identity, account) => { await this.#createAccount(identity, account) },
      addrs: () => this.#addrs(),
      dataDir: this.#options.dataDir
    }
  }

  /**
   * SIGNUP's request. The rendezvous binds an account to the peer id that asks for it, so the
   * new identity asks. With nobody signed in the node takes that identity first. With someone
   * signed in it is asked from a node of its own beside ours, so a name that is taken (or any
   * refusal) leaves the session in hand as it was: only an account that was made moves the node
   * to it, which then signs in there as it.
   */
  async #createAccount (identity: PrivateKey, account: Omit<SignupArgs, 'addrs'>): Promise<void> {
    if (this.#session === undefined) {
      await this.#useIdentity(identity)
      await this.#rendezvous.signup({ ...account, addrs: this.#addrs() })
      return
    }
    await this.#signUpAside(identity, account)
    await this.#useIdentity(identity)
    try {
      await signInBound(this.#rendezvous, { username: account.username, authKey: account.authKey, addrs: this.#addrs() }, 'fault')
    } catch (err) {
      const cause = asParleyError(err)
      throw new ParleyError(cause.code, `the account ${account.username} is made, but signing in as it failed (${cause.message}): LOGIN ${account.username}`, { cause: err })
    }
  }

  /** The signup request from a node of the new identity that listens nowhere and stops after it
   * (its session at the rendezvous ends with its connection, or is replaced by our sign-in). */
  async #signUpAside (identity: PrivateKey, account: Omit<SignupArgs, 'addrs'>): Promise<void> {
    const aside = await createParleyNode({ privateKey: identity, listen: [] })
    try {
      await new RendezvousClient(aside, this.#rendezvous.server).signup({ ...account, addrs: [] })
    } finally {
      await aside.stop()
    }
  }

  /** Restart the node under another identity; the port is released first, so it is reused. */
  async #useIdentity (identity: PrivateKey): Promise<void> {
    if (this.#node.peerId.publicKey?.equals(identity.publicKey) === true) return
    await this.#closeSession()
    await this.#stopServices()
    await this.#node.stop()
    this.#node = await ParleyPeer.#listen(this.#options, identity, this.#rendezvousAt)
    this.#services = this.#servicesOf(this.#node)
    await this.#startServices()
    this.#rendezvous = this.#rendezvousClient(this.#node)
  }

  /** Open the signed-in session and announce it (`signed-up`, `logged-in`). What is reported
   * while the session starts waits for that announcement: a message queued for us elsewhere
   * arrives as soon as the rendezvous says we are online, before the session has finished
   * starting, and was shown before "Signed in as …". */
  async #open (signed: SignedIn, announcement: PeerEvent | undefined): Promise<void> {
    await this.#closeSession()
    this.#verified.clear()
    this.#held = []
    const release = (): void => {
      const events = this.#held ?? []
      this.#held = undefined
      for (const { event, shown } of events) this.#emit(event, shown)
    }
    const session = new Session({
      direct: this.#services.direct,
      groups: this.#services.groups,
      gate: this.#gate,
      rendezvous: this.#rendezvous,
      username: signed.username,
      wrapKey: signed.wrapKey,
      authKey: signed.authKey,
      identity: signed.identity,
      addrs: () => this.#addrs(),
      dataDir: this.#options.dataDir,
      emit: this.#emit,
      reportedQueued: this.#reportedQueued,
      onReplaced: () => { this.#signOutReplaced(session) }
    })
    try {
      await session.start(signed.offline === true)
    } catch (err) {
      try {
        await session.close()
      } finally {
        release()
      }
      throw err
    }
    this.#session = session
    this.#account = signed
    // Another account's session closed for this one: said first, with what it left in the outbox
    // (until 2026-12-06 nothing was said, and its file going out stood in the prompt: round 7).
    const closed = this.#closedForSignIn
    this.#closedForSignIn = undefined
    const switched: PeerEvent[] = announcement === undefined || closed === undefined || closed.username === signed.username
      ? []
      : [{ event: 'signed-out', username: closed.username, reason: 'switched', ...closed.left }]
    this.#held = [...[...switched, ...(announcement === undefined ? [] : [announcement])].map(event => ({ event })), ...(this.#held ?? [])]
    release()
  }

  /**
   * The rendezvous gave this account's session to a sign-in on another device, which holds the
   * same identity (LOGIN restored it there). Until 2026-12-05 this peer only warned and went on
   * answering as the user: contacts kept their connection and direct session with it (libp2p
   * reuses a connection to a peer id, and a session is found by peer id), and the directory
   * answer they cached named this address, so their messages kept coming here. Now it signs out
   * for real: the session ends at once (no grace: what comes from now on is the other
   * device's), and the node starts again under a throw-away identity, as before any sign-in, so
   * that nothing here answers as the user any more and a contact's dial to this address fails
   * (its outbox then looks the user up again: outbox.ts). Said once, when done (`signed-out`).
   */
  #signOutReplaced (session: Session): void {
    if (this.#session !== session) return // signed out, or in again, meanwhile
    this.#session = undefined
    this.#account = undefined // a failed LOGIN here must not sign this user back in (#restore)
    const done = (async () => {
      let left: LeftBehind = { pending: 0, unconfirmed: 0 }
      try {
        left = await session.close(0)
        await this.#useIdentity(await generateKeyPair('Ed25519'))
      } catch (err) {
        const error = asParleyError(err)
        this.#emit({ event: 'warning', code: error.code, message: `signing out here did not finish cleanly: ${error.message}` })
      } finally {
        this.#signingOut = undefined
        this.#emit({ event: 'signed-out', username: session.username, reason: 'elsewhere', ...left })
      }
    })()
    this.#signingOut = done
  }

  /** Sign out (if signed in) for a sign-in: what goes out gets a few seconds more, which is said
   * once it takes a while (until 2026-12-06 a LOGIN of another account with a delivery stuck on
   * a frozen peer showed nothing for 4.6 s, 13–28 s before that day: round 7). */
  async #closeSession (): Promise<LeftBehind> {
    const leaving = this.#session?.username
    const slow = leaving === undefined
      ? undefined
      : setTimeout(() => { this.#emit({ event: 'signing-out', username: leaving }) }, SIGN_OUT_SAID_AFTER_MS)
    try {
      return await this.#endSession()
    } finally {
      clearTimeout(slow)
    }
  }

  /** Sign out (if signed in); resolves with what it leaves behind (Session.close). */
  async #endSession (graceMs?: number): Promise<LeftBehind> {
    const session = this.#session
    this.#session = undefined
    this.#account = undefined
    const left = await session?.close(graceMs) ?? { pending: 0, unconfirmed: 0 }
    if (session !== undefined) this.#closedForSignIn = { username: session.username, left }
    return left
  }

  #signedIn (): Session {
    if (this.#session === undefined) throw new ParleyError(ErrorCode.NotSignedIn, 'sign in first: SIGNUP <user> or LOGIN <user>')
    return this.#session
  }

  async send (user: Username, text: string): Promise<void> {
    checkText(text)
    const session = this.#signedIn()
    await checkRecipient(session, user, `SENDGROUP ${user} <message>`)
    // Answered once it is on disk, while the next SEND may already run (Session.sendText).
    this.#answering = session.sendText(user, text, id => { this.#accepted(id, { to: user, group: null }) })
  }

  /** Resolves once every SEND so far is answered (stored, or its failure said). The command
   * line waits for it before it runs anything but another SEND, and before it says a command
   * failed: the answers then come in the order of the commands, while a burst of SENDs still
   * shares one commit to disk. */
  async answered (): Promise<void> {
    await this.#answering
  }

  /** The answer to a send command, once its message is stored (before any other event about it):
   * its id, which every later event about it (queued, sent, delivered, undelivered) carries. */
  #accepted (id: MessageId, what: { to: Username, group: null } | { to: null, group: GroupName }, file?: { name: string }): void {
    this.#emit({ event: 'accepted', id, ...what, kind: file === undefined ? 'text' : 'file', name: file?.name ?? null })
  }

  /** The recipient is checked before the file is opened, let alone hashed (Session.sendFile):
   * a mistyped name is said at once, not after reading gigabytes. `signal` cancels it while the
   * file is still read (Ctrl-C at the prompt): nothing is queued. */
  async sendFile (path: string, user: Username, signal?: AbortSignal): Promise<void> {
    const session = this.#signedIn()
    await checkRecipient(session, user, `SENDGROUPFILE <file> ${user}`)
    await session.sendFile(user, path, sent => { this.#accepted(sent.id, { to: user, group: null }, sent) }, signal)
  }

  /** LIST: every group, each marked if we are in it (until 2026-12-06 a person could not tell
   * which of them were theirs: a tester's finding). */
  async list (): Promise<void> {
    this.#signedIn()
    const [{ groups }, ours] = await Promise.all([this.#rendezvous.list(), this.#rendezvous.groups()])
    const joined = new Set<string>(ours.groups.map(g => g.group))
    const cut = groups.length >= MAX_LISTED ? { cut: true as const } : {}
    this.#emit({ event: 'groups', groups: groups.map(g => ({ group: g.group, members: g.members, joined: joined.has(g.group) })), ...cut })
  }

  /** WHO: the rendezvous lists everyone online and our group-mates; a direct contact who is
   * offline it does not know of, so the latest of our direct conversations are added as offline
   * (until 2026-12-06 they were left out, though HELP said "who is online": round 7). */
  async who (): Promise<void> {
    const session = this.#signedIn()
    // Not answered within the patience MEMBERS gives (frozen, swamped): our contacts as last
    // known, the request going on (round 46: WHO held the prompt the request's 15 s).
    const asking = this.#rendezvous.who()
    asking.catch(() => {}) // a late answer or failure of it is dropped
    let answer: Awaited<typeof asking> | undefined
    try {
      answer = await answerWithin(asking, ANSWER_PATIENCE_MS)
    } catch (err) {
      if (!rendezvousOutOfReach(err)) throw err
    }
    if (answer === undefined) {
      this.#whoAsLastKnown(session)
      return
    }
    const { users } = answer
    const listed = new Set<string>(users.map(u => u.username))
    // A list cut at its limit may leave out someone online: nobody is called offline then.
    const contacts = users.length >= MAX_LISTED
      ? []
      : session.store.recentContacts(0, WHO_CONTACTS).filter(user => !listed.has(user) && user !== session.username)
    const all = [...users.map(u => ({ username: u.username, online: u.online })), ...contacts.map(username => ({ username, online: false }))]
    this.#emit({ event: 'who', users: all.sort(byUsername), lastKnown: false })
  }

  /** WHO with the rendezvous out of reach, as MEMBERS then (round 39: an error): our contacts
   * (those of our latest conversations and the members of our groups as last seen), online as
   * far as we know it, that is, those we hold a connection to. */
  #whoAsLastKnown (session: Session): void {
    const direct = this.#services.direct
    const peers = new Map<string, string | undefined>()
    for (const user of session.store.recentContacts(0, WHO_CONTACTS)) peers.set(user, session.store.pinnedPeerId(user))
    for (const group of session.store.groupsRemembered()) {
      for (const member of session.keyring.lastKnown(group)?.members ?? []) peers.set(member.username, member.peerId)
    }
    peers.delete(session.username)
    const users = [...peers].map(([username, peerId]) => ({ username, online: peerId !== undefined && direct.connected(peerId) }))
    this.#emit({ event: 'who', users: users.sort(byUsername), lastKnown: true })
  }

  /** HISTORY: `user` and `group` are one name, as either. */
  async history (user: Username | null, group: GroupName, count = HISTORY_DEFAULT): Promise<void> {
    const session = this.#signedIn()
    const limit = Math.min(Math.max(1, count), HISTORY_MAX)
    // Users and groups share one name space on the wire; a name with a direct conversation
    // means that user, otherwise the group of that name; `#group` (user null) the group alone.
    const direct = user === null ? [] : session.store.history({ user }, limit, HISTORY_MAX_BYTES)
    const conversation = direct.length > 0 && user !== null ? { user } : { group }
    const rows = direct.length > 0 ? direct : session.store.history(conversation, limit, HISTORY_MAX_BYTES)
    if (rows.length === 0) await this.#checkNamed(session, user, group)
    const earlier = rows.length === 0 ? 0 : session.store.historySize(conversation) - rows.length
    // Fewer than asked for, and more there: cut by the size HISTORY shows at once.
    const cut = rows.length < limit && earlier > 0 ? { cut: true as const } : {}
    const messages: HistoryLine[] = rows.map(r => ({
      id: r.id, direction: r.direction, from: r.direction === 'out' ? session.username : r.peer, group: r.group, kind: r.kind, text: r.body, path: r.path, status: r.status, at: r.at, sentAt: r.sentAt ?? null, unreadable: r.unreadable === true, unshown: r.unshown === true
    }))
    this.#emit({ event: 'history', with: user ?? group, messages, earlier, ...cut })
  }

  /** Nothing with this name: is it anyone's? A mistyped name said "No messages with bbo yet." as
   * if bbo were someone (until 2026-12-06, a tester's finding). Only a name nobody has is an
   * error; with the rendezvous out of reach, nothing is said of it. */
  async #checkNamed (session: Session, user: Username | null, group: GroupName): Promise<void> {
    if (session.keyring.lastKnown(group) !== undefined) return
    if (user === session.username) throw new ParleyError(ErrorCode.Usage, 'that is you: HISTORY <user> shows your messages with another user, HISTORY <group> those in a group')
    if (user !== null && session.store.pinnedPeerId(user) !== undefined) return
    try {
      const [isUser, { groups }] = await Promise.all([
        user === null ? false : session.directory.resolve(user).then(() => true, (err: unknown) => { if (is(err, ErrorCode.NotFound)) return false; throw err }),
        this.#rendezvous.list()
      ])
      if (isUser || groups.some(g => g.group === group)) return
    } catch {
      return // the rendezvous away or busy: the name may be right
    }
    throw new ParleyError(ErrorCode.NotFound, user === null ? `no group "${group}"` : `no user or group "${user}"`)
  }

  async verify (name: Username): Promise<void> {
    const session = this.#signedIn()
    // The fingerprint is of two identities, ours and theirs: of ours with ours it says nothing.
    if (name === session.username) throw new ParleyError(ErrorCode.Usage, 'that is you: VERIFY <user> shows the fingerprint of you and another user, to compare with them')
    // The identity the directory shows now, even when it is not the one pinned: it is what the
    // other side's VERIFY shows and what TRUST accepts (the pinned one comes along for reference).
    const shown = await session.directory.identityToVerify(name, this.#node.peerId.toString())
    this.#emit({ event: 'verify', ...shown })
    // TRUST accepts exactly the identity shown here, never whatever the directory says later.
    this.#verified.set(name, shown.peerId)
  }

  async trust (name: Username): Promise<void> {
    const session = this.#signedIn()
    // Not "VERIFY alice first", which then answered "that is you" (round 13).
    if (name === session.username) throw new ParleyError(ErrorCode.Usage, 'that is you: TRUST <user> accepts another user\'s changed identity, after VERIFY <user>')
    const shown = this.#verified.get(name)
    if (shown === undefined) {
      // Nobody of that name: said as such, not sent to VERIFY to be told so (a tester's finding).
      if (session.store.pinnedPeerId(name) === undefined) {
        await session.directory.resolve(name).catch((err: unknown) => {
          if (is(err, ErrorCode.NotFound)) throw new ParleyError(ErrorCode.NotFound, `no user "${name}"`)
        })
      }
      throw new ParleyError(ErrorCode.Usage, `VERIFY ${name} first and compare the fingerprint; TRUST accepts the identity VERIFY showed`)
    }
    const { peerId, changed } = await session.directory.trust(name, shown)
    this.#verified.delete(name)
    this.#emit({ event: 'trusted', user: name, peerId, changed })
    if (changed) session.outbox.identityAccepted(name)
    session.outbox.flush(name)
    session.openSessionWith(name)
  }

  /** PASSWORD's dialogue: the current password checked before the new one is asked for (round
   * 47: asked twice, then told the first was wrong). */
  async checkPassword (current: string): Promise<void> {
    this.#signedIn()
    const account = this.#account
    if (account === undefined) throw new ParleyError(ErrorCode.NotSignedIn, 'sign in first: SIGNUP <user> or LOGIN <user>')
    await checkCurrentPassword(this.#accountHost(), account, current)
  }

  /** PASSWORD: the account's password changed (account.ts changePassword); the session signs
   * in again by itself with the new one from then on. */
  async changePassword (current: string, next: string): Promise<void> {
    const session = this.#signedIn()
    const account = this.#account
    if (account === undefined) throw new ParleyError(ErrorCode.NotSignedIn, 'sign in first: SIGNUP <user> or LOGIN <user>')
    await changePassword(this.#accountHost(), account, current, next, changed => {
      if (this.#account === account) this.#account = changed
      if (this.#session === session) session.signedInAgain(changed.authKey)
    }, settle => { void this.#settlePasswordLater(session, settle) })
    this.#emit({ event: 'password-changed', username: session.username })
  }

  /** A PASSWORD the rendezvous left unanswered, asked about every SETTLE_EVERY_MS until it
   * answers, as CREATE, JOIN and LEAVE are (#settleLater), and said then. Given up at sign-out. */
  async #settlePasswordLater (session: Session, settle: UnsettledChange): Promise<void> {
    for (let tries = 0; tries < SETTLE_TRIES && this.#session === session; tries++) {
      await sleep(SETTLE_EVERY_MS, undefined, { ref: false })
      if (this.#session !== session) return
      let taken: boolean | undefined
      try {
        taken = await settle()
      } catch (err) {
        // Taken, but this folder could not keep it: said so, as a change answered in time is.
        this.#emit({ event: 'warning', code: asParleyError(err).code, message: `the rendezvous answered: ${asParleyError(err).message}` })
        return
      }
      if (taken === undefined) continue
      this.#emit(taken
        ? { event: 'password-changed', username: session.username, late: true }
        : { event: 'warning', code: ErrorCode.Unreachable, message: 'the rendezvous answered: the password was not changed; PASSWORD again' })
      return
    }
  }

  /** BLOCK <user>: nothing of theirs is taken here from now on (Inbox), and they are told so
   * when it is refused; BLOCK alone lists those blocked. */
  async block (name: Username | undefined): Promise<void> {
    const session = this.#signedIn()
    if (name === undefined) {
      this.#emit({ event: 'blocklist', users: session.store.blocked() })
      return
    }
    if (name === session.username) throw new ParleyError(ErrorCode.Usage, 'that is you: BLOCK <user> blocks another user')
    // A name nobody has is a typo more likely than someone to block (a contact met before is not asked).
    if (session.store.pinnedPeerId(name) === undefined && !session.store.isBlocked(name)) {
      await session.directory.resolve(name).catch((err: unknown) => {
        if (is(err, ErrorCode.NotFound)) throw new ParleyError(ErrorCode.NotFound, `no user "${name}": nobody was blocked`)
        if (!rendezvousAway(err)) throw err
      })
    }
    const added = session.store.block(name)
    // What they are sending now stops, and what was kept of their cut files goes: none of it is
    // taken (until 2026-12-07 a file coming in went on to its end, and a kept part stayed a
    // week: round 47).
    session.inbox.blocked(name)
    const partsRemoved = (await dropPartialsFrom(session.downloadsDir, name)).length
    this.#emit({ event: 'blocked', user: name, already: !added, partsRemoved })
  }

  /** UNBLOCK <user>: what they send is taken again (what they sent meanwhile was refused, and
   * does not come). */
  async unblock (name: Username): Promise<void> {
    const session = this.#signedIn()
    const removed = session.store.unblock(name)
    this.#emit({ event: 'unblocked', user: name, already: !removed })
  }

  async create (group: GroupName): Promise<void> {
    const session = this.#signedIn()
    this.#unsettled.delete(group)
    const created = await this.#rendezvous.create(group).catch(async (err: unknown) => {
      if (is(err, ErrorCode.Exists)) throw new ParleyError(ErrorCode.Exists, `${err.message}${await this.#whyExists(group)}`, { cause: err })
      throw this.#notDoneOrLater(session, err, group, 'create')
    })
    this.#emit({ event: 'created', group: created.group })
  }

  /**
   * A CREATE, JOIN or LEAVE that failed at the rendezvous, with what that leaves as it was (round
   * 38: a LEAVE with the rendezvous away said only that it could not be reached). One it was
   * sent and did not answer in time may have been done all the same: the rendezvous does what
   * it reads, and a frozen one does it once it thaws (round 44: told "trip was not joined", the
   * member then got the group's messages). That is said, and settled once it answers.
   */
  #notDoneOrLater (session: Session, err: unknown, group: GroupName, change: MembershipChange): unknown {
    const { past, verb } = CHANGES[change]
    if (!mayHaveBeenDone(err) || !is(err)) return notDone(err, `${group} was not ${past}; ${verb} ${group} again once the rendezvous is back`)
    const ticket = Symbol(change)
    this.#unsettled.set(group, ticket)
    void this.#settleLater(session, group, change, ticket)
    return new ParleyError(err.code, `${err.message}: whether ${group} was ${past} is said once it answers`, { cause: err })
  }

  /** Ask whether we are in the group every SETTLE_EVERY_MS until the rendezvous answers, then
   * say what an unanswered CREATE, JOIN or LEAVE came to: done (its event, and a LEAVE's clearing
   * up here, as if answered in time) or not. Given up at sign-out, and when another command for
   * the group answers first. */
  async #settleLater (session: Session, group: GroupName, change: MembershipChange, ticket: symbol): Promise<void> {
    const current = (): boolean => this.#session === session && this.#unsettled.get(group) === ticket
    for (let tries = 0; tries < SETTLE_TRIES && current(); tries++) {
      await sleep(SETTLE_EVERY_MS, undefined, { ref: false })
      const member = current() ? await this.#inGroup(group) : undefined
      if (member === undefined || !current()) continue
      this.#unsettled.delete(group)
      const { past, verb } = CHANGES[change]
      if (member === (change === 'leave')) {
        this.#emit({ event: 'warning', code: ErrorCode.Unreachable, message: `the rendezvous answered: ${group} was not ${past}; ${verb} ${group} again` })
      } else if (change === 'leave') {
        await this.#leftHere(session, group, true)
      } else if (change === 'join') {
        this.#emit({ event: 'joined', group, created: false, already: false, late: true })
        session.openSessionsIn(group)
      } else {
        this.#emit({ event: 'created', group, late: true })
      }
      return
    }
  }

  /** What CREATE adds to "already exists": the way in (round 38: that it existed, alone), or,
   * for a member, that they are in it (round 43: told to JOIN, then JOIN said they were in it).
   * Our groups unknown (the rendezvous went), the way in, as before. */
  async #whyExists (group: GroupName): Promise<string> {
    return await this.#inGroup(group) === true ? ', and you are in it' : `: JOIN ${group} to be one of its members`
  }

  /** Whether we are in `group`, as the rendezvous says now: its member list answers (only
   * members may ask), "not a member" or "no group" says we are not; undefined when it does not
   * answer. (The list of our groups would not do: it is cut at 1,000.) */
  async #inGroup (group: GroupName): Promise<boolean | undefined> {
    return await this.#rendezvous.members(group).then(() => true, (err: unknown) => is(err, ErrorCode.Forbidden) || is(err, ErrorCode.NotFound) ? false : undefined)
  }

  async join (group: GroupName): Promise<void> {
    const session = this.#signedIn()
    this.#unsettled.delete(group)
    const joined = await this.#rendezvous.join(group)
      .catch((err: unknown) => { throw this.#notDoneOrLater(session, err, group, 'join') })
    const already = joined.already === true
    this.#emit({ event: 'joined', group: joined.group, created: joined.created, already })
    if (!joined.created && !already) session.openSessionsIn(group)
  }

  async leave (group: GroupName): Promise<void> {
    const session = this.#signedIn()
    this.#unsettled.delete(group)
    const left = await this.#rendezvous.leave(group)
      .catch((err: unknown) => { throw this.#notDoneOrLater(session, err, group, 'leave') })
    await this.#leftHere(session, left.group)
  }

  /** What leaving a group does here, once the rendezvous has taken the LEAVE. */
  async #leftHere (session: Session, group: GroupName, late = false): Promise<void> {
    session.keyring.forget(group)
    // What still waits cannot go now (only members send to a group): said here, not as a failed
    // delivery when its member is back. What is under way goes on (Outbox.leaveGroup).
    const { dropped, underWay } = await session.outbox.leaveGroup(group)
    // Nor is what came of its files that were cut resumed now: the members send us no more.
    const partsRemoved = (await dropGroupPartials(session.downloadsDir, group)).length
    this.#emit({ event: 'left', group, dropped, underWay, partsRemoved, ...(late ? { late } : {}) })
  }

  async members (group: GroupName): Promise<void> {
    const session = this.#signedIn()
    const direct = this.#services.direct
    // The rendezvous away or not answering in time: the members the group goes on with meanwhile,
    // said to be that, each online as far as we know it (ourselves, and those we hold a
    // connection to). Until 2026-12-06 an error; then, frozen, 15 s (round 21).
    const { info, answered } = await session.keyring.current(group)
    const online = (m: { username: string, peerId: string, online: boolean }): boolean =>
      answered ? m.online : m.username === session.username || direct.connected(m.peerId)
    const members = info.members.map(m => ({ username: m.username, online: online(m), connected: direct.connected(m.peerId) }))
    this.#emit({ event: 'members', group: info.group, epoch: info.epoch, members, lastKnown: !answered })
  }

  async sendGroup (group: GroupName, text: string): Promise<void> {
    checkText(text)
    const session = this.#signedIn()
    await session.sendGroupText(group, text, id => { this.#accepted(id, { to: null, group }) })
      .catch(async (err: unknown) => { throw sayIfNotMember(await sayIfUser(session, async name => await this.#rendezvous.lookup(name), err, group, `SEND ${group} <message>`), group) })
  }

  /** `signal`: as for sendFile. */
  async sendGroupFile (path: string, group: GroupName, signal?: AbortSignal): Promise<void> {
    const session = this.#signedIn()
    await session.sendGroupFile(group, path, sent => { this.#accepted(sent.id, { to: null, group }, sent) }, signal)
      .catch(async (err: unknown) => { throw sayIfNotMember(await sayIfUser(session, async name => await this.#rendezvous.lookup(name), err, group, `SENDFILE <file> ${group}`), group) })
  }

  /** For Tab completion, printing nothing: every user and group the directory lists, and the
   * groups we are in (undefined if that was not answered). */
  async knownNames (): Promise<{ users: string[], groups: string[], mine: string[] | undefined }> {
    const session = this.#session
    if (session === undefined) return { users: [], groups: [], mine: undefined }
    const [who, list, ours] = await Promise.allSettled([this.#rendezvous.who(), this.#rendezvous.list(), this.#rendezvous.groups()])
    // The directory lists who is online; our contacts, as WHO lists them, come along offline too
    // (round 50: an offline contact was offered only once WHO had named them in this run).
    return {
      users: [...who.status === 'fulfilled' ? who.value.users.map(u => u.username) : [], ...session.store.recentContacts(0, WHO_CONTACTS)],
      groups: [...list.status === 'fulfilled' ? list.value.groups.map(g => g.group) : [], ...session.store.groupsRemembered()],
      mine: ours.status === 'fulfilled' ? ours.value.groups.map(g => g.group) : undefined
    }
  }

  /** Those blocked here, from the store: what UNBLOCK is offered (never waits on the rendezvous). */
  blockedUsers (): string[] {
    return this.#session?.store.blocked() ?? []
  }

  /** Wait for deliveries in progress (stdin ended: let what was typed go out first). */
  async drain (): Promise<void> {
    await this.#session?.outbox.idle()
  }

  /** Sign out and stop; resolves with what that leaves behind, reported at exit. `graceMs`:
   * how long deliveries in flight may still take (Session.close). */
  async stop (graceMs?: number): Promise<LeftBehind> {
    await this.#signingOut // its node restart would otherwise outlive this stop
    const left = await this.#endSession(graceMs)
    await this.#stopServices()
    await this.#node.stop()
    return left
  }
}

/** A group that does not exist, named as a user is (a contact of ours, or one the directory
 * knows): the error says how to write to them (`SENDGROUP bob hi` said only `no group "bob"`,
 * round 34; until 2026-12-07 still for a user never written to, round 43; the other way round,
 * see checkRecipient). A look-up that fails adds nothing. */
async function sayIfUser (session: Session, lookup: (name: string) => Promise<unknown>, err: unknown, group: GroupName, toUser: string): Promise<unknown> {
  if (!is(err, ErrorCode.NotFound) || !err.message.startsWith('no group')) return err
  const user = session.store.pinnedPeerId(group) !== undefined || await lookup(group).then(() => true, () => false)
  return user ? new ParleyError(ErrorCode.NotFound, `${err.message} (${group} is a user: ${toUser})`, { cause: err }) : err
}

function byUsername (a: { username: string }, b: { username: string }): number {
  return a.username < b.username ? -1 : a.username > b.username ? 1 : 0
}

type MembershipChange = 'create' | 'join' | 'leave'
const CHANGES: Record<MembershipChange, { past: string, verb: string }> = {
  create: { past: 'created', verb: 'CREATE' },
  join: { past: 'joined', verb: 'JOIN' },
  leave: { past: 'left', verb: 'LEAVE' }
}
/** How often, and how many times, an unanswered membership change is asked after (10 minutes). */
const SETTLE_EVERY_MS = 3_000
const SETTLE_TRIES = 200

/** A group command the rendezvous could not be asked for, with what that leaves as it was
 * (round 38: a LEAVE with the rendezvous away said only that it could not be reached). */
function notDone (err: unknown, what: string): unknown {
  if (!rendezvousAway(err) || !is(err)) return err
  return new ParleyError(err.code, `${err.message}: ${what}`, { cause: err })
}

/** A group we are not in (any more): how to be in it, and that nothing went (round 38: `you
 * are not a member of "games"` alone). */
function sayIfNotMember (err: unknown, group: GroupName): unknown {
  if (!is(err, ErrorCode.Forbidden) || !err.message.startsWith('you are not a member')) return err
  return new ParleyError(ErrorCode.Forbidden, `${err.message}: nothing was sent (JOIN ${group} first)`, { cause: err })
}

/**
 * SEND and SENDFILE go only to a user who exists: the directory knows them, or (while the
 * rendezvous is away) they are a contact pinned earlier. Otherwise nothing is queued; `toGroup`
 * says how to send to a group of ours of that name instead.
 */
async function checkRecipient (session: Session, user: Username, toGroup: string): Promise<void> {
  // They could not answer: what they send is refused here.
  if (session.store.isBlocked(user)) throw new ParleyError(ErrorCode.Usage, `you blocked ${user}: nothing was sent (UNBLOCK ${user} first)`)
  // A contact met before exists: no round trip. Otherwise the directory's answer, which it
  // reuses while presence says nothing changed, so a burst of SENDs is not a burst of look-ups
  // against the rendezvous's per-peer request budget (issue 11: 2,000 piped SENDs).
  if (session.store.pinnedPeerId(user) !== undefined) {
    session.directory.watch(user)
    return
  }
  try {
    await session.directory.resolve(user)
  } catch (err) {
    if (is(err, ErrorCode.NotFound)) {
      // One of our groups: said how to send there (a tester typed `SEND friends hi`).
      const ours = session.keyring.lastKnown(user) !== undefined ? ` (${user} is one of your groups: ${toGroup})` : ''
      throw new ParleyError(ErrorCode.NotFound, `no user "${user}"; nothing was sent${ours}`)
    }
    if (is(err, ErrorCode.Unreachable)) {
      throw new ParleyError(ErrorCode.Unreachable, `the rendezvous is away and ${user} is not a known contact: try again when it is back`)
    }
    throw err
  }
}

function checkText (text: string): void {
  const bytes = Buffer.byteLength(text)
  // In the README's words (16 KiB), the bytes written as the line limit's are (round 17).
  if (bytes > MAX_TEXT_BYTES) throw new ParleyError(ErrorCode.TooLarge, `a message is at most 16 KiB (${MAX_TEXT_BYTES.toLocaleString('en')} bytes), and this one has ${bytes.toLocaleString('en')}: nothing was sent; send a longer text as a file`)
  if (text.length === 0) throw new ParleyError(ErrorCode.Usage, 'nothing to send')
}
