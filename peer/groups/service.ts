/**
 * Group traffic (DESIGN §1, §5; issue 11). A group text is sealed once under the group key — a
 * fresh message nonce, keys derived from it (DESIGN §4) — and the same sealed envelope is posted
 * to every online member on the direct session with that member, under the signal header
 * `GROUP <group>`: no new stream and no DH per member per message. A group file still gets a
 * stream of its own per member on `/parley/group/1.0.0`, opened with `GROUP <group> <file
 * name>`, then an intro in the clear — epoch, a fresh message nonce, the message id — then
 * chunks sealed under keys from the group key and that nonce, and the receiver's encrypted ACK.
 */
import { randomBytes } from 'node:crypto'
import type { Connection, Stream } from '@libp2p/interface'
import { equals } from 'uint8arrays/equals'
import { groupAckKeys, groupFileSecret, groupMessageKeys, newMessageNonce } from '../../common/crypto/group.ts'
import { openFrame, sealFrame } from '../../common/crypto/tdes.ts'
import { ErrorCode, ParleyError, is } from '../../common/errors.ts'
import { bytes, decodeBody, encodeBody, uint } from '../../common/wire/codec.ts'
import { withFramedStream } from '../../common/wire/frames.ts'
import { formatHeader } from '../../common/wire/headers.ts'
import type { SignalHeader } from '../../common/wire/headers.ts'
import { MAX_FRAME_BYTES } from '../../common/wire/limits.ts'
import type { ParleyNode } from '../../common/node.ts'
import { SealedChannel } from '../transport/channel.ts'
import { openStream } from '../transport/dial.ts'
import { serveInbound } from '../transport/inbound.ts'
import type { Dialable } from '../transport/dial.ts'
import { GROUP_PROTOCOL, MAX_INBOUND_STREAMS, MAX_OUTBOUND_STREAMS, STEP_TIMEOUT_MS } from '../constants.ts'
import { expectAck, fileAnswerBody, fileAssociatedData, textBody } from '../direct/service.ts'
import type { DirectService, Posted } from '../direct/service.ts'
import type { SessionMessage, SessionPeer } from '../direct/session.ts'
import { PartialTransfer, describeLocalFile, hashFile, receiveFile, resumePoint, sendFile, watchTransfer } from '../files/index.ts'
import type { Emit } from '../events.ts'
import type { Inbox } from '../inbox.ts'
import type { Outbox } from '../outbox.ts'
import type { OutboxItem, PeerStore } from '../store/store.ts'
import type { GroupInfo, GroupKeyring } from './keyring.ts'

const introBody = { epoch: uint(), nonce: bytes(16, 16), id: bytes(16, 16) }
/** A group text inside a session message: its epoch, its nonce and the text sealed under the
 * keys they give (sequence 0, the `GROUP <group>` header as associated data). */
const envelopeBody = { epoch: uint(), nonce: bytes(16, 16), sealed: bytes(MAX_FRAME_BYTES) }

/** Sealed envelopes kept for the members still to be served (one per message and epoch). */
const SEALED_CACHE_SIZE = 1024

export interface GroupServiceDeps {
  node: ParleyNode
  /** Group texts go on the direct sessions with the members. */
  direct: DirectService
  username: string
  keyring: GroupKeyring
  inbox: Inbox
  store: PeerStore
  outbox: () => Outbox
  downloadsDir: string
  emit: Emit
}

export class GroupService {
  readonly #deps: GroupServiceDeps
  readonly #sealed = new Map<string, { epoch: number, envelope: Record<string, unknown> }>()

  constructor (deps: GroupServiceDeps) {
    this.#deps = deps
  }

  async start (): Promise<void> {
    await this.#deps.node.handle(GROUP_PROTOCOL, (stream, connection) => { void this.handle(stream, connection) }, {
      maxInboundStreams: MAX_INBOUND_STREAMS,
      maxOutboundStreams: MAX_OUTBOUND_STREAMS
    })
  }

  async stop (): Promise<void> {
    await this.#deps.node.unhandle(GROUP_PROTOCOL)
  }

  /** SENDGROUP: settle the key (rotating or handing it over first), then queue one delivery per
   * member. Without the key yet (another member made it) the deliveries are queued anyway and
   * wait for it in the outbox. */
  async sendText (group: string, text: string): Promise<string> {
    return await this.#fanOut(group, 'text', text, text)
  }

  /** SENDGROUPFILE: the same, with the file read at delivery time. */
  async sendFile (group: string, path: string, name: string): Promise<string> {
    return await this.#fanOut(group, 'file', path, name)
  }

  async #fanOut (group: string, kind: 'text' | 'file', body: string, shown: string): Promise<string> {
    const { info } = await this.#deps.keyring.keyForSending(group)
    const id = randomBytes(16).toString('hex')
    const created = Date.now()
    // The history row and every member's delivery are one transaction: a crash cannot leave a
    // message that is shown as sent but never goes out (issue 11).
    const record = { id, direction: 'out', peer: this.#deps.username, group, kind, body: shown, path: kind === 'file' ? body : null, status: 'sent', at: created } as const
    const items = info.members.filter(m => m.username !== this.#deps.username).map(member => ({ id, recipient: member.username, group, kind, body, created }))
    await this.#deps.outbox().submit(record, items)
    return id
  }

  /** Deliver one queued group item to one member (called by the outbox): a text is posted on the
   * session with the member (resolves once queued there; `acked` settles with its ack), a file
   * streams on a stream of its own (resolves once it was delivered). */
  async deliver (item: OutboxItem & { group: string }, to: Dialable, onSent: () => void): Promise<Posted> {
    const inGroup = (info: GroupInfo, username: string): boolean => info.members.some(m => m.username === username)
    let info = await this.#deps.keyring.info(item.group)
    // A cached list only ever says yes quickly: before dropping a delivery, ask afresh.
    if (!inGroup(info, item.recipient) || !inGroup(info, this.#deps.username)) info = await this.#deps.keyring.info(item.group, true)
    if (!inGroup(info, item.recipient)) {
      throw new ParleyError(ErrorCode.Forbidden, `${item.recipient} is no longer in ${item.group}`)
    }
    if (!inGroup(info, this.#deps.username)) {
      throw new ParleyError(ErrorCode.Forbidden, `you are no longer in ${item.group}`)
    }
    // Without the current key, settle it as a send does: that moves the group on from an epoch
    // whose key never came (its maker withholds it). ERR_UNREACHABLE while it has not reached
    // us yet: the item waits (onNewKey flushes it, the outbox retries).
    let key = await this.#deps.keyring.key(item.group, info.epoch).catch((err: unknown) => {
      if (is(err, ErrorCode.Unreachable)) return undefined
      throw err
    })
    if (key === undefined) {
      const settled = await this.#deps.keyring.keyForSending(item.group)
      info = settled.info
      key = settled.key
      if (key === undefined) throw new ParleyError(ErrorCode.Unreachable, `waiting for the key of ${item.group} (epoch ${info.epoch}) from another member`)
    }
    // The recipient may have come online since the send, or joined an epoch it never got: it
    // gets the key first, else it could not read what follows (DESIGN §4).
    const member = info.members.find(m => m.username === item.recipient)
    if (member !== undefined) await this.#deps.keyring.handOverTo(info, member, key)
    if (item.kind === 'text') {
      const envelope = this.#envelope(item, info.epoch, key)
      return await this.#deps.direct.post(to, { kind: 'GROUP', group: item.group }, Buffer.from(item.id, 'hex'), envelope, onSent)
    }
    await this.#streamFile(item, to, onSent, info, key)
    return { acked: Promise.resolve() }
  }

  /** The sealed envelope of a group text, made once per message and epoch for all members. */
  #envelope (item: OutboxItem & { group: string }, epoch: number, key: Uint8Array): Record<string, unknown> {
    const cached = this.#sealed.get(item.id)
    if (cached !== undefined && cached.epoch === epoch) return cached.envelope
    const id = Buffer.from(item.id, 'hex')
    const nonce = newMessageNonce()
    const header = formatHeader({ kind: 'GROUP', group: item.group })
    const sealed = sealFrame(groupMessageKeys(key, nonce, item.group, epoch), 0n, header, encodeBody({ id, text: item.body, sentAt: item.created }))
    const envelope = { epoch, nonce, sealed }
    this.#sealed.delete(item.id)
    this.#sealed.set(item.id, { epoch, envelope })
    if (this.#sealed.size > SEALED_CACHE_SIZE) this.#sealed.delete(this.#sealed.keys().next().value ?? '')
    return envelope
  }

  /** A group text that arrived on a session from `from`: a member's, under a key we hold. */
  async receive (from: SessionPeer, message: SessionMessage): Promise<void> {
    const { header } = message
    if (header.kind !== 'GROUP') throw new ParleyError(ErrorCode.Protocol, 'not a group message')
    const envelope = decodeBody(envelopeBody, message.body)
    await this.#checkSender(header.group, from.username)
    const key = await this.#deps.keyring.key(header.group, envelope.epoch)
    const plain = openFrame(groupMessageKeys(key, envelope.nonce, header.group, envelope.epoch), 0n, message.headerBytes, envelope.sealed)
    const body = decodeBody(textBody, plain)
    if (!equals(body.id, message.id)) throw new ParleyError(ErrorCode.Protocol, 'message id differs from its frame')
    await this.#deps.inbox.onText({ from: from.username, group: header.group, id: body.id, text: body.text, sentAt: body.sentAt })
  }

  /** Only members send to a group; a cached list may predate the sender's join, so refuse only on a fresh one. */
  async #checkSender (group: string, from: string): Promise<void> {
    let info = await this.#deps.keyring.info(group)
    if (!info.members.some(m => m.username === from)) info = await this.#deps.keyring.info(group, true)
    if (!info.members.some(m => m.username === from)) {
      throw new ParleyError(ErrorCode.Forbidden, `${from} is not a member of ${group}`)
    }
  }

  async #streamFile (item: OutboxItem & { group: string }, to: Dialable, onSent: () => void, info: GroupInfo, key: Uint8Array): Promise<void> {
    const id = Buffer.from(item.id, 'hex')
    const nonce = newMessageNonce()
    const local = await describeLocalFile(item.body)
    // Hashed before the stream opens (as the direct protocol does): the receiver's idle watch
    // would otherwise run while a large file is read, between its answer and META.
    const file = { ...local, sha256: await hashFile(local.path) }
    const header = formatHeader({ kind: 'GROUP_FILE', group: item.group, name: file.name })
    await withFramedStream(await openStream(this.#deps.node, to, GROUP_PROTOCOL), async framed => {
      const signal = AbortSignal.timeout(STEP_TIMEOUT_MS)
      await framed.write(header, { signal })
      await framed.write(encodeBody({ epoch: info.epoch, nonce, id }), { signal })
      const channel = new SealedChannel(framed, {
        send: groupMessageKeys(key, nonce, item.group, info.epoch),
        receive: groupAckKeys(key, nonce, item.group, info.epoch)
      }, header)
      const { have, resume } = await channel.receive(fileAnswerBody, { signal })
      if (!have) {
        const watch = watchTransfer(STEP_TIMEOUT_MS, (bytes, total) => {
          this.#deps.emit({ event: 'progress', id: item.id, direction: 'send', peer: to.username, name: file.name, bytes, total })
        })
        try {
          const { failed } = await sendFile({
            targets: [framed],
            fileSecret: groupFileSecret(key, nonce, item.group, info.epoch),
            associatedData: fileAssociatedData(header, id),
            path: file.path,
            id,
            sha256: file.sha256,
            size: file.size,
            mime: file.mime,
            // A member that kept part of this file from a cut attempt gets the rest only.
            from: resumePoint(resume, file.size, file.sha256),
            signal: watch.signal,
            onProgress: watch.onProgress
          })
          if (failed[0] !== undefined) throw failed[0].error
        } finally {
          watch.done()
        }
      }
      onSent()
      await expectAck(channel, id)
    })
  }

  /** Serve one inbound stream of this protocol (the peer routes its node's streams here): a
   * group file; group texts arrive on the direct sessions (`receive`). */
  async handle (stream: Stream, connection: Connection): Promise<void> {
    await serveInbound(stream, connection, {
      accepts: isGroupFileHeader,
      refusal: 'only GROUP <group> <file name> opens a group stream; group texts travel in a direct session',
      serve: async ({ framed, header, headerBytes, remotePeerId, signal }) => {
        const from = await this.#deps.inbox.senderOf(remotePeerId)
        const intro = decodeBody(introBody, await framed.read({ signal }))
        await this.#checkSender(header.group, from)
        const key = await this.#deps.keyring.key(header.group, intro.epoch)
        const channel = new SealedChannel(framed, {
          send: groupAckKeys(key, intro.nonce, header.group, intro.epoch),
          receive: groupMessageKeys(key, intro.nonce, header.group, intro.epoch)
        }, headerBytes)
        const have = this.#deps.inbox.hasFile(from, intro.id)
        if (have) {
          await channel.send({ have })
        } else {
          // As on the direct protocol: claim the transfer, offer what a cut attempt kept of it.
          const partial = await PartialTransfer.claim(this.#deps.downloadsDir, from, intro.id)
          const hex = Buffer.from(intro.id).toString('hex')
          const watch = watchTransfer(STEP_TIMEOUT_MS, (bytes, total) => {
            this.#deps.emit({ event: 'progress', id: hex, direction: 'receive', peer: from, name: header.name, bytes, total })
          })
          try {
            await channel.send({ have, ...(partial.offer !== undefined ? { resume: partial.offer } : {}) }, { signal: watch.signal })
            const file = await receiveFile({
              framed,
              fileSecret: groupFileSecret(key, intro.nonce, header.group, intro.epoch),
              associatedData: fileAssociatedData(headerBytes, intro.id),
              announcedName: header.name,
              downloadsDir: this.#deps.downloadsDir,
              partial,
              signal: watch.signal,
              onProgress: watch.onProgress
            })
            await this.#deps.inbox.onFile({ from, group: header.group, id: intro.id, name: file.name, path: file.path, size: file.size, sha256: file.sha256 })
          } finally {
            watch.done()
            partial.release()
          }
        }
        await channel.send({ ack: intro.id })
      },
      onError: (remotePeerId, err) => { this.#deps.inbox.onInboundError(remotePeerId, err) }
    })
  }
}

/** The header that opens a `/parley/group/1.0.0` stream. */
function isGroupFileHeader (header: SignalHeader): header is Extract<SignalHeader, { kind: 'GROUP_FILE' }> {
  return header.kind === 'GROUP_FILE'
}
