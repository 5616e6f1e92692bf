/**
 * `/parley/direct/1.0.0` as a service in the manner of js-libp2p's ping: `directService()` makes
 * it for one node, `start()` registers the protocol with its stream limits (the one place it is
 * registered) and `stop()` unregisters it. Two kinds of stream (common/protocol/peer.ts):
 *   SESSION            a direct session (sessions.ts, session.ts): every text, group text and
 *                      group-key hand-over between two peers, pipelined, each message with its
 *                      own signal header (`MSG`, `GROUP <group>`, `KEY <group> <epoch>`)
 *   FILE <name> <size> one file: a fresh X25519 exchange, then the file hand-off
 * The service lives as long as its node, across sign-ins: what arrives goes to the user signed in
 * now (SignedInPort), and a session that opens is reported (`session-open`) for the composition
 * root to act on. The receiver stores before it acknowledges.
 */
import { EventEmitter } from 'node:events'
import type { Connection, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { equals } from 'uint8arrays/equals'
import { ErrorCode, ParleyError } from '../../common/errors.ts'
import { randomBytesPooled } from '../../common/crypto/random.ts'
import type { ParleyNode } from '../../common/node.ts'
import { DIRECT_PROTOCOL, fileAssociatedData, fileOfferBody, keyBody, textBody } from '../../common/protocol/peer.ts'
import { MAX_TEXT_BYTES } from '../../common/wire/limits.ts'
import { decodeBody, encodeBody } from '../../common/wire/codec.ts'
import { withFramedStream } from '../../common/wire/frames.ts'
import { formatHeader } from '../../common/wire/headers.ts'
import type { ParsedHeader, SignalHeader } from '../../common/wire/headers.ts'
import { acceptDirectChannel, initiateDirectChannel } from '../transport/channel.ts'
import { openStream } from '../transport/dial.ts'
import type { Dialable, Dialer } from '../transport/dial.ts'
import { ProtocolHandler, serveInbound } from '../transport/inbound.ts'
import type { Inbound } from '../transport/inbound.ts'
import { STEP_TIMEOUT_MS } from '../constants.ts'
import type { Emit } from '../events.ts'
import { fileToHandOff, handOffFile, handingOff, takeFile } from '../files/handoff.ts'
import { openGroupText } from '../groups/envelope.ts'
import type { SignedInPort, SignedInUser } from '../signed-in.ts'
import { DirectSessions } from './sessions.ts'
import type { SessionMessage, SessionPeer } from './session.ts'
import { patientTimeout } from '../../common/patient-timeout.ts'

export interface DirectServiceComponents {
  node: Pick<ParleyNode, 'peerId' | 'handle' | 'unhandle'> & Dialer
  signedIn: SignedInPort
  emit: Emit
}

export interface DirectServiceInit {
  /** Messages per sender per second and burst on a session (the benchmark lifts them). */
  messageLimits?: { perSecond: number, burst: number }
  maxInboundStreams?: number
  maxOutboundStreams?: number
}

export interface DirectServiceEvents {
  /** A session with this peer opened (either side): what waits for it can go now. */
  'session-open': [peer: SessionPeer]
}

/** A message posted on a session: `acked` settles when the receiver has stored it (or refused). */
export interface Posted {
  acked: Promise<void>
}

/** A protocol nobody serves, asked for to see whether a peer answers at all (checkAlive). */
const ALIVE_PROBE_PROTOCOL = '/parley/alive-probe/1.0.0'
/** How long a live peer has to refuse it: a frozen one never does. */
const ALIVE_PROBE_MS = 5_000

/** A text's body on the wire, at most: MAX_TEXT_BYTES of text, its id and time, and for a group's
 * its envelope (epoch, nonce) and sealing (padding, MAC), with room to spare. */
const MAX_TEXT_BODY_BYTES = MAX_TEXT_BYTES + 512

export class DirectService extends EventEmitter<DirectServiceEvents> {
  readonly #components: DirectServiceComponents
  readonly #handler: ProtocolHandler
  readonly sessions: DirectSessions

  constructor (components: DirectServiceComponents, init: DirectServiceInit = {}) {
    super()
    this.#components = components
    this.#handler = new ProtocolHandler(components.node, DIRECT_PROTOCOL, components.signedIn, async (user, stream, connection) => { await this.#handle(user, stream, connection) }, init)
    this.sessions = new DirectSessions({
      node: components.node,
      onMessage: async (user, from, message) => { await this.#onMessage(user, from, message) },
      onOpen: peer => { this.emit('session-open', peer) },
      limits: init.messageLimits
    })
  }

  async start (): Promise<void> {
    await this.#handler.register()
  }

  async stop (): Promise<void> {
    if (!this.#handler.registered) return
    this.sessions.stop()
    await this.#handler.unregister()
  }

  /** Is a session with this peer open now? Then it is reachable without a directory look-up. */
  connected (peerId: string): boolean {
    return this.sessions.find(peerId) !== undefined
  }

  /**
   * Whether the peer at the other end of our connections to `peerId` still answers: a stream is
   * asked for a protocol nobody serves, which a live peer refuses at once (multistream's `na`).
   * One that does not answer within ALIVE_PROBE_MS is a process that froze (a laptop asleep), and
   * its connections go, so that the next try dials where its account is now. The rendezvous says
   * so when the account signs in from another connection (Session, `presence`): until
   * 2026-12-07 a contact's texts went to the frozen device until its ack watch gave up, 30 s
   * (round 47).
   */
  async checkAlive (peerId: string): Promise<void> {
    await Promise.all(this.#components.node.getConnections(peerIdFromString(peerId)).map(async connection => {
      const signal = AbortSignal.timeout(ALIVE_PROBE_MS)
      try {
        const stream = await connection.newStream(ALIVE_PROBE_PROTOCOL, { signal, runOnLimitedConnection: true })
        await stream.close().catch(() => {})
      } catch {
        // Only silence counts: a refusal (`na`), or any other failure that came back, is an answer.
        if (signal.aborted && connection.status === 'open') connection.abort(new ParleyError(ErrorCode.Unreachable, 'the peer there stopped answering'))
      }
    }))
  }

  /** Open a session with `to` ahead of any message (or find the open one): groups/warm-sessions.ts. */
  async openSession (to: Dialable): Promise<void> {
    await this.sessions.get(this.#components.signedIn.now(), to)
  }

  /**
   * Post one message (its signal header and body) on the session with `to`, opening one if
   * needed; `after`: the text it follows in its conversation, if posted in the same delivery run
   * (peer/arrival-order.ts). Resolves once it is queued for writing, in call order, so a caller
   * that posts one message after another keeps them in order without waiting for each ack.
   */
  async post (to: Dialable, header: SignalHeader, id: Uint8Array, body: Record<string, unknown>, onSent?: () => void, after?: Uint8Array): Promise<Posted> {
    const session = await this.sessions.get(this.#components.signedIn.now(), to)
    await session.room()
    const acked = session.post(formatHeader(header), id, encodeBody(body), onSent, after)
    acked.catch(() => {}) // the caller awaits it later; never an unhandled rejection meanwhile
    return { acked }
  }

  /** Deliver one text message; resolves once the receiver has stored it and ACKed. */
  async sendText (to: Dialable, id: Uint8Array, text: string, onSent?: () => void): Promise<void> {
    const { acked } = await this.post(to, { kind: 'MSG' }, id, { id, text, sentAt: Date.now() }, onSent)
    await acked
  }

  /** Hand a group key to a member on the session with it (`KEY <group> <epoch>`). */
  async sendGroupKey (to: Dialable, group: string, epoch: number, key: Uint8Array): Promise<void> {
    const id = randomBytesPooled(16)
    const { acked } = await this.post(to, { kind: 'KEY', group, epoch }, id, { key })
    await acked
  }

  /** Deliver one file (`FILE <name> <size>`), if it still has the content SENDFILE hashed
   * (`sha256`, hex) at `sentAt`; resolves once the receiver verified and stored it. If it has
   * not, ERR_FILE, once the receiver was told (fileToHandOff). */
  async sendFile (to: Dialable, id: Uint8Array, path: string, sha256: string | undefined, sentAt: number, onSent?: () => void): Promise<void> {
    const { file, name, size } = await fileToHandOff(path, sha256, sentAt)
    const header = formatHeader({ kind: 'FILE', name, size })
    const { node, emit, signedIn } = this.#components
    const user = signedIn.now()
    const card = user.nameCard()
    await handingOff(file, async () => {
      await withFramedStream(await openStream(node, to, DIRECT_PROTOCOL), async framed => {
        const signal = patientTimeout(STEP_TIMEOUT_MS)
        const { channel, keys } = await initiateDirectChannel(framed, header, node.peerId.toString(), to.peerId, { signal, card })
        await channel.send({ id }, { signal: patientTimeout(STEP_TIMEOUT_MS) })
        const handOff = { channel, framed, id, fileSecret: keys.fileSecret, associatedData: fileAssociatedData(channel.associatedData, id), peer: to.username, emit, stop: user.signal }
        await handOffFile(handOff, file, patientTimeout(STEP_TIMEOUT_MS), onSent)
      })
    })
  }

  /** One message that arrived on a session: checked against its header, stored, then ACKed. */
  async #onMessage (user: SignedInUser, from: SessionPeer, message: SessionMessage): Promise<void> {
    const { header } = message
    // A text is at most MAX_TEXT_BYTES: one larger is refused before it may wait for the text it
    // follows, so a waiting text holds at most that much (round 46: 80 KiB frames held waiting).
    if ((header.kind === 'MSG' || header.kind === 'GROUP') && message.body.length > MAX_TEXT_BODY_BYTES) {
      throw new ParleyError(ErrorCode.TooLarge, 'a message is at most 16 KiB of text')
    }
    switch (header.kind) {
      case 'MSG':
        await user.inbox.takeText(from.username, message.id, message.after, async () => {
          const body = decodeBody(textBody, message.body)
          if (!equals(body.id, message.id)) throw new ParleyError(ErrorCode.Protocol, 'message id differs from its frame')
          return { from: from.username, group: null, id: body.id, text: body.text, sentAt: body.sentAt }
        })
        return
      case 'KEY': {
        const { key } = decodeBody(keyBody, message.body)
        await user.keys.acceptHandedKey({ from: from.username, group: header.group, epoch: header.epoch, key })
        return
      }
      case 'GROUP':
        await user.inbox.takeText(from.username, message.id, message.after, async () => await openGroupText(user.keys, from, message))
        return
      default:
        throw new ParleyError(ErrorCode.Protocol, `${header.kind} does not belong inside a session`)
    }
  }

  /** One inbound stream, for the user signed in (handleProtocol waited for them). */
  async #handle (user: SignedInUser, stream: Stream, connection: Connection): Promise<void> {
    await serveInbound(stream, connection, {
      accepts: isDirectStreamHeader,
      refusal: 'only SESSION and FILE open a direct stream; group files belong on the group protocol',
      serve: async inbound => {
        if (inbound.header.kind === 'SESSION') {
          await this.sessions.serve(user, { ...inbound, header: inbound.header })
          return
        }
        await this.#receiveFile(user, { ...inbound, header: inbound.header })
      },
      onError: (remotePeerId, err) => { user.inbox.onInboundError(remotePeerId, err) }
    })
  }

  async #receiveFile (user: SignedInUser, { framed, header, headerBytes, remotePeerId, signal }: Inbound<Extract<ParsedHeader, { kind: 'FILE' }>>): Promise<void> {
    const { channel, keys, from } = await acceptDirectChannel(framed, headerBytes, this.#components.node.peerId.toString(), remotePeerId,
      async card => await user.inbox.senderOf(remotePeerId, card), { signal })
    const { id } = await channel.receive(fileOfferBody, { signal })
    const handOff = { channel, framed, id, fileSecret: keys.peerFileSecret, associatedData: fileAssociatedData(headerBytes, id), peer: from, emit: this.#components.emit }
    await takeFile(handOff, { from, group: null, name: header.name, size: header.size }, user)
  }
}

export function directService (components: DirectServiceComponents, init: DirectServiceInit = {}): DirectService {
  return new DirectService(components, init)
}

/** The headers that open a `/parley/direct/1.0.0` stream. */
function isDirectStreamHeader (header: ParsedHeader): header is Extract<ParsedHeader, { kind: 'SESSION' | 'FILE' }> {
  return header.kind === 'SESSION' || header.kind === 'FILE'
}
