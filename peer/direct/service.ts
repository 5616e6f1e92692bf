/**
 * `/parley/direct/1.0.0`: the streams between two peers. Two kinds, told apart by the signal
 * header that opens each one:
 *   SESSION            a direct session (direct/session.ts): a fresh X25519 exchange, then every
 *                      text, group message and group-key hand-over between the two, pipelined,
 *                      each message carrying its own signal header (`MSG`, `GROUP <group>`,
 *                      `KEY <group> <epoch>`) inside the sealed frame
 *   FILE <name> <size> one file: a fresh X25519 exchange, the file's chunks, an encrypted ACK
 * The receiver stores before it acknowledges. The sender is named by the Noise-authenticated
 * peer id, never by anything it writes.
 */
import type { Connection, Stream } from '@libp2p/interface'
import { equals } from 'uint8arrays/equals'
import { ErrorCode, ParleyError } from '../../common/errors.ts'
import { bool, bytes, decodeBody, encodeBody, optional, str, uint } from '../../common/wire/codec.ts'
import { withFramedStream } from '../../common/wire/frames.ts'
import type { FramedStream } from '../../common/wire/frames.ts'
import { formatHeader } from '../../common/wire/headers.ts'
import type { SignalHeader } from '../../common/wire/headers.ts'
import { MAX_TEXT_BYTES } from '../../common/wire/limits.ts'
import type { ParleyNode } from '../../common/node.ts'
import { acceptDirectChannel, initiateDirectChannel } from '../transport/channel.ts'
import type { SealedChannel } from '../transport/channel.ts'
import { openStream } from '../transport/dial.ts'
import { serveInbound } from '../transport/inbound.ts'
import type { Inbound } from '../transport/inbound.ts'
import type { Dialable } from '../transport/dial.ts'
import { DIRECT_PROTOCOL, MAX_INBOUND_STREAMS, MAX_OUTBOUND_STREAMS, STEP_TIMEOUT_MS } from '../constants.ts'
import type { Inbox } from '../inbox.ts'
import type { Emit } from '../events.ts'
import { PartialTransfer, describeLocalFile, hashFile, receiveFile, resumePoint, resumeSchema, sendFile, watchTransfer } from '../files/index.ts'
import { DirectSessions } from './sessions.ts'
import type { SessionMessage, SessionPeer } from './session.ts'

export const textBody = { id: bytes(16, 16), text: str(MAX_TEXT_BYTES, 1), sentAt: uint() }
export const ackBody = { ack: bytes(16, 16) }
const keyBody = { key: bytes(24, 24) }
/** Before a file's bytes: its id, so the receiver can say it already has it (a lost ACK). */
export const fileOfferBody = { id: bytes(16, 16) }
/** The receiver's answer: it has the file already, or not; if not, maybe a verified prefix of it
 * kept from an attempt that was cut, to resume from (files/wire.ts, "Resuming"). Optional, so an
 * answer without it (an older receiver's) still reads, and means "from the start". */
export const fileAnswerBody = { have: bool(), resume: optional(resumeSchema) }

/** Associated data of a file's chunks: the signal header and the transfer id. */
export function fileAssociatedData (header: Uint8Array, id: Uint8Array): Uint8Array {
  const ad = new Uint8Array(header.length + id.length)
  ad.set(header, 0)
  ad.set(id, header.length)
  return ad
}

export interface DirectServiceOptions {
  node: ParleyNode
  inbox: Inbox
  downloadsDir: string
  emit: Emit
  /** Group messages that arrive on a session: the group service checks and opens them. */
  onGroupMessage: (from: SessionPeer, message: SessionMessage) => Promise<void>
  /** A session with this peer opened (either side): what waits for it can go now. */
  onSessionOpen?: (peer: SessionPeer) => void
  /** Messages per sender per second and burst on a session (the benchmark lifts them). */
  messageLimits?: { perSecond: number, burst: number }
}

/** A message posted on a session: `acked` settles when the receiver has stored it (or refused). */
export interface Posted {
  acked: Promise<void>
}

export class DirectService {
  readonly #node: ParleyNode
  readonly #inbox: Inbox
  readonly #downloadsDir: string
  readonly #emit: Emit
  readonly #onGroupMessage: DirectServiceOptions['onGroupMessage']
  readonly sessions: DirectSessions

  constructor (options: DirectServiceOptions) {
    this.#node = options.node
    this.#inbox = options.inbox
    this.#downloadsDir = options.downloadsDir
    this.#emit = options.emit
    this.#onGroupMessage = options.onGroupMessage
    this.sessions = new DirectSessions({
      node: options.node,
      senderOf: async peerId => await this.#inbox.senderOf(peerId),
      onMessage: async (from, message) => { await this.#onMessage(from, message) },
      onOpen: peer => { options.onSessionOpen?.(peer) },
      onError: (peerId, error) => { this.#inbox.onInboundError(peerId, error) },
      limits: options.messageLimits
    })
  }

  async start (): Promise<void> {
    await this.#node.handle(DIRECT_PROTOCOL, (stream, connection) => { void this.handle(stream, connection) }, {
      maxInboundStreams: MAX_INBOUND_STREAMS,
      maxOutboundStreams: MAX_OUTBOUND_STREAMS
    })
  }

  async stop (): Promise<void> {
    this.sessions.stop()
    await this.#node.unhandle(DIRECT_PROTOCOL)
  }

  /**
   * Post one message (its signal header and body) on the session with `to`, opening one if
   * needed. Resolves once it is queued for writing, in call order, so a caller that posts one
   * message after another keeps them in order without waiting for each ack.
   */
  async post (to: Dialable, header: SignalHeader, id: Uint8Array, body: Record<string, unknown>, onSent?: () => void): Promise<Posted> {
    const session = await this.sessions.get(to)
    await session.room()
    const acked = session.post(formatHeader(header), id, encodeBody(body), onSent)
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
    const id = crypto.getRandomValues(new Uint8Array(16))
    const { acked } = await this.post(to, { kind: 'KEY', group, epoch }, id, { key })
    await acked
  }

  /** One message that arrived on a session: checked against its header, stored, then ACKed. */
  async #onMessage (from: SessionPeer, message: SessionMessage): Promise<void> {
    const { header } = message
    switch (header.kind) {
      case 'MSG': {
        const body = decodeBody(textBody, message.body)
        if (!equals(body.id, message.id)) throw new ParleyError(ErrorCode.Protocol, 'message id differs from its frame')
        await this.#inbox.onText({ from: from.username, group: null, id: body.id, text: body.text, sentAt: body.sentAt })
        return
      }
      case 'KEY': {
        const { key } = decodeBody(keyBody, message.body)
        await this.#inbox.onGroupKey({ from: from.username, group: header.group, epoch: header.epoch, key })
        return
      }
      case 'GROUP':
        await this.#onGroupMessage(from, message)
        return
      default:
        throw new ParleyError(ErrorCode.Protocol, `${header.kind} does not belong inside a session`)
    }
  }

  /** Deliver one file (`FILE <name> <size>`); resolves once the receiver verified and stored it. */
  async sendFile (to: Dialable, id: Uint8Array, path: string, onSent?: () => void): Promise<void> {
    const file = await describeLocalFile(path)
    const sha256 = await hashFile(file.path)
    const header = { kind: 'FILE', name: file.name, size: file.size } as const
    await this.#exchange(to, header, async (channel, framed, keys) => {
      await channel.send({ id }, { signal: AbortSignal.timeout(STEP_TIMEOUT_MS) })
      const { have, resume } = await channel.receive(fileAnswerBody, { signal: AbortSignal.timeout(STEP_TIMEOUT_MS) })
      if (!have) {
        const hex = Buffer.from(id).toString('hex')
        // A receiver that stops granting credits must not hold this send, the outbox queue
        // behind it and a clean QUIT (issue 7, hostile-peer tests).
        const watch = watchTransfer(STEP_TIMEOUT_MS, (bytes, total) => {
          this.#emit({ event: 'progress', id: hex, direction: 'send', peer: to.username, name: file.name, bytes, total })
        })
        try {
          const { failed } = await sendFile({
            targets: [framed],
            fileSecret: keys.fileSecret,
            associatedData: fileAssociatedData(channel.associatedData, id),
            path: file.path,
            id,
            sha256,
            size: file.size,
            mime: file.mime,
            // A receiver that kept part of this file from a cut attempt gets the rest only.
            from: resumePoint(resume, file.size, sha256),
            signal: watch.signal,
            onProgress: watch.onProgress
          })
          if (failed[0] !== undefined) throw failed[0].error
        } finally {
          watch.done()
        }
      }
      onSent?.()
      await expectAck(channel, id)
    })
  }

  /** Open a file stream with `header`, run its own handshake, hand the channel to `work`. */
  async #exchange (to: Dialable, header: SignalHeader, work: (channel: SealedChannel, framed: FramedStream, keys: { fileSecret: Uint8Array }) => Promise<void>): Promise<void> {
    await withFramedStream(await openStream(this.#node, to, DIRECT_PROTOCOL), async framed => {
      const signal = AbortSignal.timeout(STEP_TIMEOUT_MS)
      const { channel, keys } = await initiateDirectChannel(framed, formatHeader(header), this.#node.peerId.toString(), to.peerId, { signal })
      await work(channel, framed, keys)
    })
  }

  /** Serve one inbound stream of this protocol (the peer routes its node's streams here). */
  async handle (stream: Stream, connection: Connection): Promise<void> {
    await serveInbound(stream, connection, {
      accepts: isDirectStreamHeader,
      refusal: 'only SESSION and FILE open a direct stream; group files belong on the group protocol',
      serve: async inbound => {
        if (inbound.header.kind === 'SESSION') {
          await this.sessions.serve({ ...inbound, header: inbound.header })
          return
        }
        await this.#receiveFile({ ...inbound, header: inbound.header })
      },
      onError: (remotePeerId, err) => { this.#inbox.onInboundError(remotePeerId, err) }
    })
  }

  async #receiveFile ({ framed, header, headerBytes, remotePeerId, signal }: Inbound<Extract<SignalHeader, { kind: 'FILE' }>>): Promise<void> {
    const from = await this.#inbox.senderOf(remotePeerId)
    const { channel, keys } = await acceptDirectChannel(framed, headerBytes, this.#node.peerId.toString(), remotePeerId, { signal })
    const { id } = await channel.receive(fileOfferBody, { signal })
    const have = this.#inbox.hasFile(from, id)
    if (have) {
      await channel.send({ have })
    } else {
      // This transfer (from, id) is ours alone now; what a cut attempt kept of it is offered.
      const partial = await PartialTransfer.claim(this.#downloadsDir, from, id)
      const hex = Buffer.from(id).toString('hex')
      // A sender that stalls mid-file must not hold the stream and its .part (issue 7).
      const watch = watchTransfer(STEP_TIMEOUT_MS, (bytes, total) => {
        this.#emit({ event: 'progress', id: hex, direction: 'receive', peer: from, name: header.name, bytes, total })
      })
      try {
        await channel.send({ have, ...(partial.offer !== undefined ? { resume: partial.offer } : {}) }, { signal: watch.signal })
        const file = await receiveFile({
          framed,
          fileSecret: keys.peerFileSecret,
          associatedData: fileAssociatedData(headerBytes, id),
          announcedName: header.name,
          announcedSize: header.size,
          downloadsDir: this.#downloadsDir,
          partial,
          signal: watch.signal,
          onProgress: watch.onProgress
        })
        await this.#inbox.onFile({ from, group: null, id, name: file.name, path: file.path, size: file.size, sha256: file.sha256 })
      } finally {
        watch.done()
        partial.release()
      }
    }
    await channel.send({ ack: id })
  }
}

export async function expectAck (channel: SealedChannel, id: Uint8Array): Promise<void> {
  const { ack } = await channel.receive(ackBody, { signal: AbortSignal.timeout(STEP_TIMEOUT_MS) })
  if (!equals(ack, id)) throw new ParleyError(ErrorCode.Protocol, 'acknowledgement for another message')
}

/** The headers that open a `/parley/direct/1.0.0` stream. */
function isDirectStreamHeader (header: SignalHeader): header is Extract<SignalHeader, { kind: 'SESSION' | 'FILE' }> {
  return header.kind === 'SESSION' || header.kind === 'FILE'
}
