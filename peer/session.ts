/**
 * Everything that belongs to one signed-in user: the local store, the directory with its pins,
 * the inbox, the outbox and the protocol services. A new Session is made at each sign-in and
 * closed at sign-out or exit; nothing here outlives the user it was made for.
 */
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import type { ParleyNode } from '../common/node.ts'
import { ErrorCode, ParleyError, asParleyError } from '../common/errors.ts'
import type { Emit } from './events.ts'
import { Directory } from './directory.ts'
import { Inbox } from './inbox.ts'
import { Outbox } from './outbox.ts'
import type { OutboxItem } from './store/store.ts'
import { PeerStore } from './store/store.ts'
import { DirectService } from './direct/service.ts'
import type { PeerContact } from './directory.ts'
import type { RendezvousClient } from './rendezvous-client.ts'
import type { RendezvousEvent } from '../common/protocol/rendezvous.ts'
import { GroupKeyring } from './groups/keyring.ts'
import { GroupService } from './groups/service.ts'

export interface SessionOptions {
  node: ParleyNode
  rendezvous: RendezvousClient
  username: string
  wrapKey: Uint8Array
  dataDir: string
  emit: Emit
}

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
  readonly #abort = new AbortController()

  constructor (options: SessionOptions) {
    this.username = options.username
    this.wrapKey = options.wrapKey
    this.node = options.node
    this.rendezvous = options.rendezvous
    this.#emit = options.emit
    const userDir = join(options.dataDir, options.username)
    this.downloadsDir = join(userDir, 'downloads')
    this.store = new PeerStore(join(userDir, 'parley.db'), options.wrapKey)
    this.directory = new Directory(() => this.rendezvous, this.store, options.emit)
    this.inbox = new Inbox(this.store, this.directory, options.emit)
    this.direct = new DirectService(this.node, this.inbox, this.downloadsDir, options.emit)
    this.outbox = new Outbox(this.store, this.directory, options.emit, { deliver: async (item, to, onSent) => { await this.#deliver(item, to, onSent) } })
    this.keyring = new GroupKeyring({
      username: this.username,
      wrapKey: this.wrapKey,
      store: this.store,
      rendezvous: () => this.rendezvous,
      emit: options.emit,
      handOver: async (to, group, epoch, key) => { await this.direct.sendGroupKey(to, group, epoch, key) },
      // Deliveries to this group waited for the key: every recipient may now be served.
      onNewKey: () => { this.outbox.flushAll() }
    })
    this.inbox.keys = this.keyring
    this.groups = new GroupService({
      node: this.node,
      username: this.username,
      keyring: this.keyring,
      inbox: this.inbox,
      store: this.store,
      outbox: () => this.outbox,
      downloadsDir: this.downloadsDir,
      emit: options.emit
    })
  }

  async start (): Promise<void> {
    await this.direct.start()
    await this.groups.start()
    await this.rendezvous.subscribe(event => { this.#onRendezvousEvent(event) }, this.#abort.signal)
    this.outbox.start()
    this.outbox.flushAll()
    this.#background(this.keyring.handOverAll())
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
    await this.direct.stop()
    await this.groups.stop()
    await this.outbox.idle()
    this.store.close()
  }

  /** SEND: store it, queue it, deliver it (now if the user is reachable, else later). */
  sendText (to: string, text: string): string {
    if (to === this.username) throw new ParleyError(ErrorCode.Usage, 'that is you')
    const id = randomBytes(16).toString('hex')
    this.store.addMessage({ id, direction: 'out', peer: to, group: null, kind: 'text', body: text, path: null, status: 'queued', at: Date.now() })
    this.outbox.submit({ id, recipient: to, group: null, kind: 'text', body: text })
    return id
  }

  /** SENDFILE: the file is read when it is delivered, so it must stay where it is until then. */
  sendFile (to: string, path: string, name: string): string {
    if (to === this.username) throw new ParleyError(ErrorCode.Usage, 'that is you')
    const id = randomBytes(16).toString('hex')
    this.store.addMessage({ id, direction: 'out', peer: to, group: null, kind: 'file', body: name, path, status: 'queued', at: Date.now() })
    this.outbox.submit({ id, recipient: to, group: null, kind: 'file', body: path })
    return id
  }

  async #deliver (item: OutboxItem, to: PeerContact, onSent: () => void): Promise<void> {
    const id = Buffer.from(item.id, 'hex')
    if (item.group !== null) await this.groups.deliver({ ...item, group: item.group }, to, onSent)
    else if (item.kind === 'text') await this.direct.sendText(to, id, item.body, onSent)
    else await this.direct.sendFile(to, id, item.body, onSent)
  }

  #onRendezvousEvent (event: RendezvousEvent): void {
    switch (event.type) {
      case 'presence':
        this.#emit({ event: 'presence', user: event.username, online: event.online })
        if (event.online) this.outbox.flush(event.username)
        break
      case 'key-needed':
        this.#background(this.keyring.onKeyNeeded(event.group, event.epoch, event.username))
        break
      case 'member-joined':
      case 'member-left':
      case 'rotation-needed':
        this.keyring.invalidate(event.group)
        break
      case 'session-replaced':
        this.#emit({ event: 'warning', code: ErrorCode.Conflict, message: 'you signed in somewhere else; this session no longer receives events' })
        break
      default:
        break
    }
  }
}
