/**
 * Everything that belongs to one signed-in user: the local store, the directory with its pins,
 * the inbox, the outbox and the protocol services. A new Session is made at each sign-in and
 * closed at sign-out or exit; nothing here outlives the user it was made for.
 */
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { randomBytes } from 'node:crypto'
import type { ParleyNode } from '../common/node.ts'
import { ErrorCode, ParleyError, asParleyError, is } from '../common/errors.ts'
import type { Emit } from './events.ts'
import { Directory } from './directory.ts'
import { Inbox } from './inbox.ts'
import { Outbox } from './outbox.ts'
import type { OutboxItem } from './store/store.ts'
import { PeerStore } from './store/store.ts'
import { DirectService } from './direct/service.ts'
import type { Posted } from './direct/service.ts'
import type { PeerContact } from './directory.ts'
import type { RendezvousClient } from './rendezvous-client.ts'
import type { RendezvousEvent } from '../common/protocol/rendezvous.ts'
import { GroupKeyring } from './groups/keyring.ts'
import type { PrivateKey } from '@libp2p/interface'
import { GroupService } from './groups/service.ts'

export interface SessionOptions {
  node: ParleyNode
  rendezvous: RendezvousClient
  username: string
  wrapKey: Uint8Array
  authKey: Uint8Array
  /** Our identity key: signs the group epochs we start. */
  identity: PrivateKey
  /** Our current dialable addresses, for the directory. */
  addrs: () => string[]
  dataDir: string
  emit: Emit
}

/** Reconnecting to the rendezvous: 0.5 s, doubling, at most 30 s between attempts, with jitter
 * so a room of peers does not knock all at once when the server comes back. */
const RECONNECT_FIRST_MS = 500
const RECONNECT_MAX_MS = 30_000

/** At sign-out, how long deliveries in flight may take to be acknowledged. */
const CLOSE_GRACE_MS = 2_000

export class Session {
  readonly username: string
  readonly wrapKey: Uint8Array
  readonly node: ParleyNode
  readonly rendezvous: RendezvousClient
  readonly store: PeerStore
  readonly directory: Directory
  readonly inbox: Inbox
  readonly outbox: Outbox
  readonly direct: DirectService
  readonly keyring: GroupKeyring
  readonly groups: GroupService
  readonly downloadsDir: string
  readonly #emit: Emit
  readonly #authKey: Uint8Array
  readonly #addrs: () => string[]
  readonly #abort = new AbortController()
  /** Signed in elsewhere: this session must not take the account back by reconnecting. */
  #replaced = false

  constructor (options: SessionOptions) {
    this.username = options.username
    this.wrapKey = options.wrapKey
    this.#authKey = options.authKey
    this.#addrs = options.addrs
    this.node = options.node
    this.rendezvous = options.rendezvous
    this.#emit = options.emit
    const userDir = join(options.dataDir, options.username)
    this.downloadsDir = join(userDir, 'downloads')
    this.store = new PeerStore(join(userDir, 'parley.db'), options.wrapKey)
    this.directory = new Directory(() => this.rendezvous, this.store, options.emit)
    this.inbox = new Inbox(this.store, this.directory, options.emit)
    this.direct = new DirectService({
      node: this.node,
      inbox: this.inbox,
      downloadsDir: this.downloadsDir,
      emit: options.emit,
      onGroupMessage: async (from, message) => { await this.groups.receive(from, message) },
      // A session with a peer (either side opened it) means it is reachable: its queue goes now.
      onSessionOpen: peer => { this.outbox.flush(peer.username) }
    })
    this.outbox = new Outbox(this.store, this.directory, options.emit, {
      deliver: async (item, to, onSent) => await this.#deliver(item, to, onSent),
      connected: peerId => this.direct.sessions.find(peerId) !== undefined
    })
    this.keyring = new GroupKeyring({
      username: this.username,
      wrapKey: this.wrapKey,
      store: this.store,
      rendezvous: () => this.rendezvous,
      emit: options.emit,
      sign: async data => await options.identity.sign(data),
      pinnedPeerId: username => this.store.pinnedPeerId(username),
      handOver: async (to, group, epoch, key) => {
        // Through the directory, not the member list alone: it checks the peer id against our
        // pin (a rendezvous that swapped a member's id gets no key) and gives current addresses.
        const contact = await this.directory.resolve(to.username)
        if (contact.peerId !== to.peerId) {
          throw new ParleyError(ErrorCode.IdentityChanged, `the member list and the directory disagree on the identity of ${to.username}`)
        }
        await this.direct.sendGroupKey(contact, group, epoch, key)
        // Deliveries to this member that failed while it had no key can go now.
        this.outbox.flush(to.username)
      },
      // Deliveries to this group waited for the key: every recipient may now be served.
      onNewKey: () => { this.outbox.flushAll() }
    })
    this.inbox.keys = this.keyring
    this.groups = new GroupService({
      node: this.node,
      direct: this.direct,
      username: this.username,
      keyring: this.keyring,
      inbox: this.inbox,
      store: this.store,
      outbox: () => this.outbox,
      downloadsDir: this.downloadsDir,
      emit: options.emit
    })
  }

  /** `offline`: signed in from the data folder alone; the rendezvous is tried in the background. */
  async start (offline = false): Promise<void> {
    if (offline) this.#background(this.#reconnect())
    else await this.#subscribe()
    this.outbox.start()
    this.outbox.flushAll()
    // (Offline, the hand-overs wait for the rendezvous: #reconnect does them once it is back.)
    if (!offline) this.#background(this.keyring.handOverAll())
  }

  async #subscribe (): Promise<void> {
    await this.rendezvous.subscribe(event => { this.#onRendezvousEvent(event) }, this.#abort.signal)
  }

  /**
   * The rendezvous went away (restart, network): sign in again with backoff. Meanwhile messages
   * to peers we already know still go directly, with the addresses the directory gave last.
   */
  async #reconnect (): Promise<void> {
    this.#emit({ event: 'rendezvous', connected: false })
    const signal = this.#abort.signal
    for (let attempt = 0; !signal.aborted; attempt++) {
      const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_FIRST_MS * 2 ** attempt) * (0.75 + Math.random() / 2)
      try {
        await sleep(delay, undefined, { signal })
        const again = await this.rendezvous.signin({ username: this.username, authKey: this.#authKey, addrs: this.#addrs() })
        if (!again.bound) throw new ParleyError(ErrorCode.IdentityChanged, `the rendezvous has another identity for ${this.username}`)
        await this.#subscribe()
      } catch (err) {
        // The rendezvous is back but will not have us (the account is gone, its password or
        // identity changed): trying again cannot help, and the person must hear of it.
        if (is(err, ErrorCode.BadCredentials) || is(err, ErrorCode.IdentityChanged)) {
          this.#emit({ event: 'error', code: asParleyError(err).code, message: `the rendezvous no longer accepts your sign-in (${asParleyError(err).message}); LOGIN again to reconnect. Known contacts are still reached directly` })
          return
        }
        continue // still away (or we are stopping: the loop condition ends it)
      }
      this.#emit({ event: 'rendezvous', connected: true })
      this.outbox.flushAll()
      this.#background(this.keyring.handOverAll())
      return
    }
  }

  /** Work that runs on its own: a failure is reported, never thrown into nowhere. */
  #background (work: Promise<unknown>): void {
    work.catch(err => {
      const error = asParleyError(err)
      this.#emit({ event: 'warning', code: error.code, message: error.message })
    })
  }

  async close (): Promise<void> {
    this.#abort.abort()
    this.outbox.stop()
    // Messages in flight get a moment for their acks; what is still unacknowledged then stays
    // queued for the next session (the receiver drops a copy it already has).
    await Promise.race([this.outbox.idle(), sleep(CLOSE_GRACE_MS)])
    this.direct.sessions.stop()
    await this.outbox.idle()
    this.store.close()
  }

  /** SEND: store it and queue it in one commit, then deliver it (now if the user is reachable,
   * else later). Resolves once it is accepted, not durable: it joins the group commit at the end
   * of this turn of the event loop (Outbox.accept), so a burst of SEND lines, which the command
   * line runs one at a time, shares one commit instead of paying an fsync each (issue 11). It
   * is promised to nobody before then: `queued`/`sent`/`delivered` all follow the commit. */
  async sendText (to: string, text: string): Promise<string> {
    if (to === this.username) throw new ParleyError(ErrorCode.Usage, 'that is you')
    const id = randomBytes(16).toString('hex')
    const at = Date.now()
    this.outbox.accept(
      { id, direction: 'out', peer: to, group: null, kind: 'text', body: text, path: null, status: 'queued', at },
      [{ id, recipient: to, group: null, kind: 'text', body: text, created: at }])
    return id
  }

  /** SENDFILE: the file is read when it is delivered, so it must stay where it is until then. */
  async sendFile (to: string, path: string, name: string): Promise<string> {
    if (to === this.username) throw new ParleyError(ErrorCode.Usage, 'that is you')
    const id = randomBytes(16).toString('hex')
    const at = Date.now()
    await this.outbox.submit(
      { id, direction: 'out', peer: to, group: null, kind: 'file', body: name, path, status: 'queued', at },
      [{ id, recipient: to, group: null, kind: 'file', body: path, created: at }])
    return id
  }

  async #deliver (item: OutboxItem, to: PeerContact, onSent: () => void): Promise<Posted> {
    const id = Buffer.from(item.id, 'hex')
    if (item.group !== null) return await this.groups.deliver({ ...item, group: item.group }, to, onSent)
    if (item.kind === 'text') return await this.direct.post(to, { kind: 'MSG' }, id, { id, text: item.body, sentAt: item.created }, onSent)
    await this.direct.sendFile(to, id, item.body, onSent)
    return { acked: Promise.resolve() }
  }

  #onRendezvousEvent (event: RendezvousEvent): void {
    switch (event.type) {
      case 'presence':
        this.directory.forget(event.username)
        this.#emit({ event: 'presence', user: event.username, online: event.online })
        if (event.online) this.outbox.flush(event.username)
        break
      case 'key-needed':
        this.#background(this.keyring.onKeyNeeded(event.group, event.epoch, event.username))
        break
      case 'member-joined':
      case 'member-left':
        this.keyring.invalidate(event.group)
        // Members see who comes and goes (issue 12 item 2; a joiner gets the key automatically).
        this.#emit({ event: event.type, group: event.group, user: event.username })
        break
      case 'rotation-needed':
        this.keyring.invalidate(event.group)
        break
      case 'disconnected':
        // Presence is not tracked while we are away: nothing cached may be trusted after.
        this.directory.forget()
        this.keyring.invalidateAll()
        if (!this.#abort.signal.aborted && !this.#replaced) this.#background(this.#reconnect())
        break
      case 'session-replaced':
        this.#replaced = true
        this.#emit({ event: 'warning', code: ErrorCode.Conflict, message: 'you signed in somewhere else; this session no longer receives events' })
        break
      default:
        break
    }
  }
}
