/**
 * `/parley/group/1.0.0`: group traffic, fanned out peer to peer, one stream per member
 * (DESIGN §1, §5). Each stream starts with the customer's signal header `GROUP <group>` or
 * `GROUP <group> <file name>`, then an intro in the clear — epoch, a fresh message nonce, the
 * message id — then frames sealed under keys derived from the group key and that nonce, and
 * last the receiver's encrypted ACK under keys of its own label.
 */
import { randomBytes } from 'node:crypto'
import type { Connection, Stream } from '@libp2p/interface'
import { groupAckKeys, groupFileSecret, groupMessageKeys, newMessageNonce } from '../../common/crypto/group.ts'
import { ErrorCode, ParleyError } from '../../common/errors.ts'
import { bytes, decodeBody, encodeBody, uint } from '../../common/wire/codec.ts'
import { withFramedStream } from '../../common/wire/frames.ts'
import { formatHeader } from '../../common/wire/headers.ts'
import type { SignalHeader } from '../../common/wire/headers.ts'
import type { ParleyNode } from '../../common/node.ts'
import { SealedChannel } from '../transport/channel.ts'
import { openStream } from '../transport/dial.ts'
import { serveInbound } from '../transport/inbound.ts'
import type { Dialable } from '../transport/dial.ts'
import { GROUP_PROTOCOL, MAX_INBOUND_STREAMS, MAX_OUTBOUND_STREAMS, STEP_TIMEOUT_MS } from '../constants.ts'
import { expectAck, fileAnswerBody, fileAssociatedData, textBody } from '../direct/service.ts'
import { PartialTransfer, describeLocalFile, hashFile, receiveFile, resumePoint, sendFile, watchTransfer } from '../files/index.ts'
import type { Emit } from '../events.ts'
import type { Inbox } from '../inbox.ts'
import type { Outbox } from '../outbox.ts'
import type { OutboxItem, PeerStore } from '../store/store.ts'
import type { GroupInfo, GroupKeyring } from './keyring.ts'

const introBody = { epoch: uint(), nonce: bytes(16, 16), id: bytes(16, 16) }

export interface GroupServiceDeps {
  node: ParleyNode
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
    this.#deps.store.addMessage({ id, direction: 'out', peer: this.#deps.username, group, kind, body: shown, path: kind === 'file' ? body : null, status: 'sent', at: Date.now() })
    for (const member of info.members) {
      if (member.username === this.#deps.username) continue
      this.#deps.outbox().submit({ id, recipient: member.username, group, kind, body })
    }
    return id
  }

  /** Deliver one queued group item to one member (called by the outbox). */
  async deliver (item: OutboxItem & { group: string }, to: Dialable, onSent: () => void): Promise<void> {
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
    // ERR_UNREACHABLE while the key has not reached us: the item waits (onNewKey flushes it).
    const key = await this.#deps.keyring.key(item.group, info.epoch)
    // The recipient may have come online since the send, or joined an epoch it never got: it
    // gets the key first, else it could not read what follows (DESIGN §4).
    const member = info.members.find(m => m.username === item.recipient)
    if (member !== undefined) await this.#deps.keyring.handOverTo(info, member, key)
    const id = Buffer.from(item.id, 'hex')
    const nonce = newMessageNonce()
    const local = item.kind === 'file' ? await describeLocalFile(item.body) : undefined
    // Hashed before the stream opens (as the direct protocol does): the receiver's idle watch
    // would otherwise run while a large file is read, between its answer and META.
    const file = local === undefined ? undefined : { ...local, sha256: await hashFile(local.path) }
    const header = formatHeader(file === undefined ? { kind: 'GROUP', group: item.group } : { kind: 'GROUP_FILE', group: item.group, name: file.name })
    await withFramedStream(await openStream(this.#deps.node, to, GROUP_PROTOCOL), async framed => {
      const signal = AbortSignal.timeout(STEP_TIMEOUT_MS)
      await framed.write(header, { signal })
      await framed.write(encodeBody({ epoch: info.epoch, nonce, id }), { signal })
      const channel = new SealedChannel(framed, {
        send: groupMessageKeys(key, nonce, item.group, info.epoch),
        receive: groupAckKeys(key, nonce, item.group, info.epoch)
      }, header)
      if (file === undefined) {
        await channel.send({ id, text: item.body, sentAt: Date.now() }, { signal })
      } else {
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
              path: file.path, id, sha256: file.sha256, size: file.size, mime: file.mime,
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
      }
      onSent()
      await expectAck(channel, id)
    })
  }

  /** Serve one inbound stream of this protocol (the peer routes its node's streams here). */
  async handle (stream: Stream, connection: Connection): Promise<void> {
    await serveInbound(stream, connection, {
      accepts: isGroupHeader,
      refusal: 'only GROUP signal headers belong on the group protocol',
      serve: async ({ framed, header, headerBytes, remotePeerId, signal }) => {
        const from = await this.#deps.inbox.senderOf(remotePeerId)
        const intro = decodeBody(introBody, await framed.read({ signal }))
        let info = await this.#deps.keyring.info(header.group)
        // A cached list may predate the sender's join: refuse only on a fresh one.
        if (!info.members.some(m => m.username === from)) info = await this.#deps.keyring.info(header.group, true)
        if (!info.members.some(m => m.username === from)) {
          throw new ParleyError(ErrorCode.Forbidden, `${from} is not a member of ${header.group}`)
        }
        const key = await this.#deps.keyring.key(header.group, intro.epoch)
        const channel = new SealedChannel(framed, {
          send: groupAckKeys(key, intro.nonce, header.group, intro.epoch),
          receive: groupMessageKeys(key, intro.nonce, header.group, intro.epoch)
        }, headerBytes)
        if (header.kind === 'GROUP') {
          const body = await channel.receive(textBody, { signal })
          if (Buffer.compare(body.id, intro.id) !== 0) throw new ParleyError(ErrorCode.Protocol, 'message id differs from the intro')
          this.#deps.inbox.onText({ from, group: header.group, id: body.id, text: body.text, sentAt: body.sentAt })
        } else {
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
              this.#deps.inbox.onFile({ from, group: header.group, id: intro.id, name: file.name, path: file.path, size: file.size, sha256: file.sha256 })
            } finally {
              watch.done()
              partial.release()
            }
          }
        }
        await channel.send({ ack: intro.id })
      },
      onError: (remotePeerId, err) => { this.#deps.inbox.onInboundError(remotePeerId, err) }
    })
  }
}

/** The headers of `/parley/group/1.0.0`. */
function isGroupHeader (header: SignalHeader): header is Extract<SignalHeader, { kind: 'GROUP' | 'GROUP_FILE' }> {
  return header.kind === 'GROUP' || header.kind === 'GROUP_FILE'
}
