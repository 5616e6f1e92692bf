/**
 * Group traffic (DESIGN §1, §5; issue 11) as a service in the manner of js-libp2p's ping:
 * `groupService()` makes it for one node, `start()` registers `/parley/group/1.0.0` with its
 * stream limits (the one place it is registered), `stop()` unregisters it.
 *
 * A group text is sealed once under the group key (envelope.ts) and the same envelope is posted
 * to every member on the direct session with that member, under `GROUP <group>`: no new stream
 * and no DH per member per message. A group file gets a stream of its own per member on
 * `/parley/group/1.0.0`, opened with `GROUP <group> <file name>`, then an intro in the clear —
 * epoch, a fresh message nonce, the message id — then the file hand-off under keys from the
 * group key and that nonce (common/protocol/peer.ts).
 *
 * Which key and epoch, and handing the key to the member first, are the keyring's
 * (keyForDelivery): this service is given both.
 */
import type { Connection, Stream } from '@libp2p/interface'
import { groupAckKeys, groupFileSecret, groupMessageKeys, newMessageNonce } from '../../common/crypto/group.ts'
import type { ParleyNode } from '../../common/node.ts'
import { GROUP_PROTOCOL, fileAssociatedData, groupFileIntroBody } from '../../common/protocol/peer.ts'
import { decodeBody, encodeBody } from '../../common/wire/codec.ts'
import { withFramedStream } from '../../common/wire/frames.ts'
import { formatHeader } from '../../common/wire/headers.ts'
import type { ParsedHeader } from '../../common/wire/headers.ts'
import { SealedChannel } from '../transport/channel.ts'
import { openStream } from '../transport/dial.ts'
import type { Dialable, Dialer } from '../transport/dial.ts'
import { ProtocolHandler, serveInbound } from '../transport/inbound.ts'
import { STEP_TIMEOUT_MS } from '../constants.ts'
import type { DirectService, Posted } from '../direct/service.ts'
import type { Emit } from '../events.ts'
import { fileToHandOff, handOffFile, handingOff, takeFile } from '../files/handoff.ts'
import type { SignedInPort, SignedInUser } from '../signed-in.ts'
import { checkSender, keyOfSender, sealGroupText } from './envelope.ts'
import type { GroupEnvelope } from './envelope.ts'
import { patientTimeout } from '../../common/patient-timeout.ts'
import { MAX_OPENING_FRAME_BYTES } from '../../common/wire/limits.ts'

export interface GroupServiceComponents {
  node: Pick<ParleyNode, 'peerId' | 'handle' | 'unhandle'> & Dialer
  /** Group texts go on the direct sessions with the members. */
  direct: Pick<DirectService, 'post'>
  signedIn: SignedInPort
  emit: Emit
}

export interface GroupServiceInit {
  maxInboundStreams?: number
  maxOutboundStreams?: number
}

/** One queued group message to one member, with the key to send it under. */
export interface GroupDelivery {
  /** The message id (hex), shared by every member's copy. */
  id: string
  group: string
  kind: 'text' | 'file'
  /** The text, or the path of the file (read at delivery time). */
  body: string
  /** A file's content (SHA-256, hex) when SENDGROUPFILE took it: OutboxItem.sha256. */
  sha256?: string
  created: number
  epoch: number
  key: Uint8Array
}

/** Sealed envelopes kept for the members still to be served (one per message and epoch). */
const SEALED_CACHE_SIZE = 1024

export class GroupService {
  readonly #components: GroupServiceComponents
  readonly #handler: ProtocolHandler
  readonly #sealed = new Map<string, { epoch: number, envelope: GroupEnvelope }>()

  constructor (components: GroupServiceComponents, init: GroupServiceInit = {}) {
    this.#components = components
    this.#handler = new ProtocolHandler(components.node, GROUP_PROTOCOL, components.signedIn, async (user, stream, connection) => { await this.#handle(user, stream, connection) }, init)
  }

  async start (): Promise<void> {
    await this.#handler.register()
  }

  async stop (): Promise<void> {
    if (!this.#handler.registered) return
    this.#sealed.clear()
    await this.#handler.unregister()
  }

  /** Deliver one group message to one member: a text is posted on the session with the member
   * (resolves once queued there; `acked` settles with its ack; `after`, the text it follows,
   * peer/arrival-order.ts), a file streams on a stream of its own (resolves once it was
   * delivered). */
  async deliver (to: Dialable, delivery: GroupDelivery, onSent: () => void, after?: Uint8Array): Promise<Posted> {
    if (delivery.kind === 'text') {
      const envelope = this.#envelope(delivery)
      return await this.#components.direct.post(to, { kind: 'GROUP', group: delivery.group }, Buffer.from(delivery.id, 'hex'), envelope, onSent, after)
    }
    await this.#sendFile(to, delivery, onSent)
    return { acked: Promise.resolve() }
  }

  /** The sealed envelope of a group text, made once per message and epoch for all members. */
  #envelope (delivery: GroupDelivery): GroupEnvelope {
    const cached = this.#sealed.get(delivery.id)
    if (cached !== undefined && cached.epoch === delivery.epoch) return cached.envelope
    const text = { group: delivery.group, id: Buffer.from(delivery.id, 'hex'), text: delivery.body, sentAt: delivery.created }
    const envelope = sealGroupText(text, delivery.epoch, delivery.key)
    this.#sealed.delete(delivery.id)
    this.#sealed.set(delivery.id, { epoch: delivery.epoch, envelope })
    if (this.#sealed.size > SEALED_CACHE_SIZE) this.#sealed.delete(this.#sealed.keys().next().value ?? '')
    return envelope
  }

  async #sendFile (to: Dialable, delivery: GroupDelivery, onSent: () => void): Promise<void> {
    const { group, epoch, key } = delivery
    const id = Buffer.from(delivery.id, 'hex')
    const nonce = newMessageNonce()
    // Hashed before the stream opens (as the direct protocol does): the receiver's idle watch
    // would otherwise run while a large file is read, between its answer and META. Changed or
    // gone, it is given up, and the member told (as the direct protocol does).
    const { file, name } = await fileToHandOff(delivery.body, delivery.sha256, delivery.created)
    const header = formatHeader({ kind: 'GROUP_FILE', group, name })
    await handingOff(file, async () => {
      await withFramedStream(await openStream(this.#components.node, to, GROUP_PROTOCOL), async framed => {
        const signal = patientTimeout(STEP_TIMEOUT_MS)
        await framed.write(header, { signal })
        await framed.write(encodeBody({ epoch, nonce, id }), { signal })
        const channel = new SealedChannel(framed, {
          send: groupMessageKeys(key, nonce, group, epoch),
          receive: groupAckKeys(key, nonce, group, epoch)
        }, header)
        const stop = this.#components.signedIn.now().signal
        const handOff = { channel, framed, id, fileSecret: groupFileSecret(key, nonce, group, epoch), associatedData: fileAssociatedData(header, id), peer: to.username, emit: this.#components.emit, stop }
        await handOffFile(handOff, file, signal, onSent)
      })
    })
  }

  /** One inbound stream: a group file (group texts arrive on the direct sessions), for the user
   * signed in (handleProtocol waited for them). */
  async #handle (user: SignedInUser, stream: Stream, connection: Connection): Promise<void> {
    await serveInbound(stream, connection, {
      accepts: isGroupFileHeader,
      refusal: 'only GROUP <group> <file name> opens a group stream; group texts travel in a direct session',
      serve: async ({ framed, header, headerBytes, remotePeerId, signal }) => {
        // A sender our user blocked is refused under the stream's keys, once it has them: refused
        // before, it read only a closed stream and tried again at each reconnect (round 47).
        const from = await user.inbox.senderOf(remotePeerId, undefined, 'let-through')
        const refusal = user.inbox.blockedRefusal(from)
        const intro = decodeBody(groupFileIntroBody, await framed.read({ signal, maxBytes: MAX_OPENING_FRAME_BYTES }))
        await checkSender(user.keys, header.group, from)
        const key = await keyOfSender(user.keys, header.group, intro.epoch, from)
        const channel = new SealedChannel(framed, {
          send: groupAckKeys(key, intro.nonce, header.group, intro.epoch),
          receive: groupMessageKeys(key, intro.nonce, header.group, intro.epoch)
        }, headerBytes)
        const handOff = { channel, framed, id: intro.id, fileSecret: groupFileSecret(key, intro.nonce, header.group, intro.epoch), associatedData: fileAssociatedData(headerBytes, intro.id), peer: from, emit: this.#components.emit }
        await takeFile(handOff, { from, group: header.group, name: header.name, whileMember: user.keys.whileMember(header.group), ...(refusal === undefined ? {} : { refusal }) }, user)
      },
      onError: (remotePeerId, err) => { user.inbox.onInboundError(remotePeerId, err) }
    })
  }
}

export function groupService (components: GroupServiceComponents, init: GroupServiceInit = {}): GroupService {
  return new GroupService(components, init)
}

/** The header that opens a `/parley/group/1.0.0` stream. */
function isGroupFileHeader (header: ParsedHeader): header is Extract<ParsedHeader, { kind: 'GROUP_FILE' }> {
  return header.kind === 'GROUP_FILE'
}
