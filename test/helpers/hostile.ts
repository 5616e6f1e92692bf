/**
 * A hostile peer for the integration tests (issue 7): a raw libp2p node that is a real Parley
 * user (signed up through the rendezvous like any peer, so a victim can name it) or a stranger
 * with no account, and that speaks the direct and group protocols by hand. It can follow them
 * exactly as far as an honest peer would (the real DH handshake, the real file streaming) and
 * then misbehave: replay, reorder, cut, flip, oversize, stall or flood.
 */
import { randomBytes } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Connection } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import { openFrame, sealChunk, sealFrame } from '../../common/crypto/index.ts'
import type { DirectSessionKeys } from '../../common/crypto/index.ts'
import type { ParleyNode } from '../../common/node.ts'
import { decodeBody, encodeBody } from '../../common/wire/codec.ts'
import type { InferSchema, Schema } from '../../common/wire/codec.ts'
import { FramedStream } from '../../common/wire/frames.ts'
import { RENDEZVOUS_PROTOCOL } from '../../common/protocol/rendezvous.ts'
import { DIRECT_PROTOCOL, GROUP_PROTOCOL, ackBody, decodeSessionFrame, fileAnswerBody, fileAssociatedData, fileOfferBody } from '../../common/protocol/peer.ts'
import type { SessionFrame } from '../../common/protocol/peer.ts'
import { hashFile, sendFile } from '../../peer/files/index.ts'
import { openVerdict, sealMeta } from '../../peer/files/wire.ts'
import { ParleyError } from '../../common/errors.ts'
import { RendezvousClient } from '../../peer/rendezvous-client.ts'
import { acceptDirectChannel, initiateDirectChannel } from '../../peer/transport/channel.ts'
import { clientNode, makeAccount } from './rendezvous.ts'
import type { Account } from './rendezvous.ts'

export { DIRECT_PROTOCOL, GROUP_PROTOCOL }

/** Where a victim is: what the directory says about it. */
export interface Target {
  username: string
  peerId: string
  addrs: string[]
}

/** Our own frames may be as large as we like: the point is to send what the victim refuses. */
const NO_LIMIT = 64 * 1024 * 1024
/** We open as many streams as we like too; the victim's inbound limit is what is under test. */
const MANY_STREAMS = 10_000
const encoder = new TextEncoder()

/** A signal header line as raw bytes, unchecked (formatHeader would refuse the hostile ones). */
export function rawHeader (line: string): Uint8Array {
  return encoder.encode(line)
}

/** A varint length prefix alone, for frames that announce more than they carry. */
export function varint (value: number): Uint8Array {
  const out: number[] = []
  let rest = value
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80)
    rest = Math.floor(rest / 0x80)
  }
  out.push(rest)
  return Uint8Array.from(out)
}

export class Hostile {
  readonly node: ParleyNode
  readonly rendezvous: RendezvousClient
  /** Undefined for a stranger: no account, so no directory entry names this node. */
  readonly account: Account | undefined

  private constructor (node: ParleyNode, rendezvous: RendezvousClient, account: Account | undefined) {
    this.node = node
    this.rendezvous = rendezvous
    this.account = account
  }

  /** A registered user: a fresh identity and a real account, signed in on the rendezvous. */
  static async user (server: Multiaddr, username: string, password = 'hostile but registered'): Promise<Hostile> {
    const account = await makeAccount(username, password)
    const node = await clientNode(account.privateKey)
    await node.start()
    const rendezvous = new RendezvousClient(node, server)
    const { salt, kdf, authKey, identity } = account
    await rendezvous.signup({ username, salt, kdf, authKey, identity, addrs: node.getMultiaddrs().map(a => a.toString()) })
    return new Hostile(node, rendezvous, account)
  }

  /** A node nobody has heard of: a fresh identity and no account. */
  static async stranger (server: Multiaddr): Promise<Hostile> {
    const node = await clientNode()
    await node.start()
    return new Hostile(node, new RendezvousClient(node, server), undefined)
  }

  get peerId (): string {
    return this.node.peerId.toString()
  }

  /** A user's peer id and addresses, from the directory (needs a signed-in hostile). */
  async find (username: string): Promise<Target> {
    const { peerId, addrs } = await this.rendezvous.lookup(username)
    return { username, peerId, addrs }
  }

  /** A raw stream on `protocol`, framed without our own size limit. */
  async open (target: Target, protocol: string, signal: AbortSignal = AbortSignal.timeout(10_000)): Promise<FramedStream> {
    const peerId = peerIdFromString(target.peerId)
    await this.node.peerStore.merge(peerId, { multiaddrs: target.addrs.map(a => multiaddr(a)) })
    const stream = await this.node.dialProtocol(peerId, protocol, { signal, maxOutboundStreams: MANY_STREAMS })
    return new FramedStream(stream, NO_LIMIT)
  }

  /** The one connection we hold to `target` (every stream above goes over it). */
  connectionTo (target: Target): Connection | undefined {
    return this.node.getConnections(peerIdFromString(target.peerId))[0]
  }

  /**
   * A direct stream that follows the protocol honestly up to the end of the real handshake:
   * header frame, our ephemeral key, the victim's. Rejects if the victim refuses before that.
   */
  async direct (target: Target, header: string | Uint8Array, signal: AbortSignal = AbortSignal.timeout(10_000)): Promise<HostileSession> {
    const headerBytes = typeof header === 'string' ? rawHeader(header) : header
    const framed = await this.open(target, DIRECT_PROTOCOL, signal)
    try {
      const { keys } = await initiateDirectChannel(framed, headerBytes, this.peerId, target.peerId, { signal })
      return new HostileSession(framed, keys, headerBytes)
    } catch (err) {
      framed.abort(err)
      throw err
    }
  }

  /**
   * `FILE <name> <size>` up to the victim's answer to our offer: the session, the transfer id
   * and the associated data every file frame is bound to. `name` goes out unchecked.
   */
  async offerFile (target: Target, name: string, size: number): Promise<FileOffer> {
    const session = await this.direct(target, `FILE ${name} ${size}`)
    const id = new Uint8Array(randomBytes(16))
    await session.send({ id })
    const { have } = await session.receive(fileAnswerBody)
    return { session, id, have, associatedData: fileAssociatedData(session.header, id) }
  }

  /**
   * A whole file, exactly as DirectService.sendFile does it, except that the name in the header
   * is ours to choose. Resolves with the victim's ACK (the transfer id) once it stored the file.
   */
  async sendFileNamed (target: Target, name: string, path: string, size: number): Promise<Uint8Array> {
    const offer = await this.offerFile(target, name, size)
    const { session, id } = offer
    try {
      if (!offer.have) {
        const { failed } = await sendFile({
          targets: [session.framed],
          fileSecret: session.keys.fileSecret,
          associatedData: offer.associatedData,
          path,
          id,
          sha256: await hashFile(path),
          size
        })
        if (failed[0] !== undefined) throw failed[0].error
      }
      const { ack } = await session.receive(ackBody)
      return ack
    } finally {
      await session.framed.close()
    }
  }

  /** A raw request stream to the rendezvous, framed without our own size limit. */
  async openRendezvous (): Promise<FramedStream> {
    await this.rendezvous.connect()
    return new FramedStream(await this.node.dialProtocol(this.rendezvous.server, RENDEZVOUS_PROTOCOL), NO_LIMIT)
  }

  /**
   * From now on, answer every direct stream as a receiver that accepts a FILE offer, reads what
   * comes and never grants a flow-control credit (nor ACKs): what the sender does then is under
   * test. `onStream` gets, per stream, a promise of how that stream went.
   */
  async starveSenders (onStream: (result: Promise<StarvedSender>) => void): Promise<void> {
    await this.node.handle(DIRECT_PROTOCOL, (stream, connection) => {
      onStream(this.#starve(new FramedStream(stream, NO_LIMIT), connection.remotePeer.toString()))
    }, { maxInboundStreams: 4, maxOutboundStreams: MANY_STREAMS })
  }

  async #starve (framed: FramedStream, remotePeerId: string): Promise<StarvedSender> {
    const header = await framed.read()
    const { channel } = await acceptDirectChannel(framed, header, this.peerId, remotePeerId, async () => undefined)
    await channel.receive(fileOfferBody)
    await channel.send({ have: false })
    let frames = 0
    let lastFrameAt = Date.now()
    try {
      for (;;) {
        await framed.read()
        frames++
        lastFrameAt = Date.now()
      }
    } catch (err) {
      return { header: new TextDecoder().decode(header), frames, lastFrameAt, endedAt: Date.now(), error: err instanceof Error ? err.message : String(err) }
    }
  }

  async stop (): Promise<void> {
    await this.node.stop()
  }
}

/** How a starved sender's stream went: file frames read, when the last came, when it ended. */
export interface StarvedSender {
  header: string
  frames: number
  lastFrameAt: number
  endedAt: number
  error: string
}

export interface FileOffer {
  session: HostileSession
  id: Uint8Array
  have: boolean
  associatedData: Uint8Array
}

/**
 * One direct stream after the handshake, with the session keys in hand: it seals frames the way
 * the real SealedChannel does, but lets the caller choose the sequence number and write any
 * bytes it likes, in any order, as often as it likes.
 */
export class HostileSession {
  readonly framed: FramedStream
  readonly keys: DirectSessionKeys
  readonly header: Uint8Array
  #sendSeq = 0n
  #receiveSeq = 0n

  constructor (framed: FramedStream, keys: DirectSessionKeys, header: Uint8Array) {
    this.framed = framed
    this.keys = keys
    this.header = header
  }

  /** The sealed frame an honest sender would write next (a CBOR body, or raw plaintext bytes). */
  seal (body: Record<string, unknown> | Uint8Array, seq: bigint = this.#sendSeq++): Uint8Array {
    const plaintext = body instanceof Uint8Array ? body : encodeBody(body)
    return sealFrame(this.keys.send, seq, this.header, plaintext)
  }

  /** META of a file transfer, sealed as peer/files does. */
  meta (offer: FileOffer, size: number, sha256: Uint8Array): Uint8Array {
    return sealMeta(this.keys.fileSecret, offer.associatedData, { id: offer.id, size, sha256 })
  }

  /** The victim's verdict on META (peer/files/wire.ts): undefined when it takes the file, else
   * its refusal as the ParleyError an honest sender would report. */
  async verdict (offer: FileOffer, signal: AbortSignal = AbortSignal.timeout(10_000)): Promise<ParleyError | undefined> {
    const sealed = await this.framed.read({ signal })
    try {
      openVerdict(this.keys.fileSecret, offer.associatedData, sealed)
      return undefined
    } catch (err) {
      if (err instanceof ParleyError) return err
      throw err
    }
  }

  /** Chunk `index` of a file transfer, with a final flag of our choosing. */
  chunk (offer: FileOffer, index: number, final: boolean, data: Uint8Array): Uint8Array {
    return sealChunk(this.keys.fileSecret, index, final, offer.associatedData, data)
  }

  async write (frame: Uint8Array): Promise<void> {
    await this.framed.write(frame)
  }

  async send (body: Record<string, unknown>): Promise<void> {
    await this.write(this.seal(body))
  }

  /** The sealed session frame of one message (common/protocol/peer.ts): its own signal header,
   * its id and a body, which need not match the header's schema. */
  sealMessage (header: string, id: Uint8Array, body: Record<string, unknown> | Uint8Array): Uint8Array {
    return this.seal({ t: 'm', h: rawHeader(header), id, b: body instanceof Uint8Array ? body : encodeBody(body) })
  }

  /** A text message on this session, as an honest peer posts it. */
  sealText (id: Uint8Array, text: string, extra: Record<string, unknown> = {}): Uint8Array {
    return this.sealMessage('MSG', id, { id, text, sentAt: Date.now(), ...extra })
  }

  /** The victim's next session frame (an ack, normally). */
  async receiveFrame (signal?: AbortSignal): Promise<SessionFrame> {
    const sealed = await this.framed.read({ signal: signal ?? AbortSignal.timeout(10_000) })
    return decodeSessionFrame(openFrame(this.keys.receive, this.#receiveSeq++, this.header, sealed))
  }

  /** The victim's next sealed frame, opened and checked as SealedChannel.receive does. */
  async receive<S extends Schema> (schema: S, signal: AbortSignal = AbortSignal.timeout(10_000)): Promise<InferSchema<S>> {
    const sealed = await this.framed.read({ signal })
    return decodeBody(schema, openFrame(this.keys.receive, this.#receiveSeq++, this.header, sealed))
  }
}

/**
 * How a stream ended, seen from our side: `reset` when the victim aborted it (what every refusal
 * does), `closed` when it ended it cleanly, `frame` if it answered instead, `open` if nothing
 * happened within `timeoutMs`, `failed` for anything else. `ms` is when, from the call.
 */
export interface Outcome {
  end: 'reset' | 'closed' | 'frame' | 'open' | 'failed'
  ms: number
  error?: string
}

export async function outcome (framed: FramedStream, timeoutMs = 10_000): Promise<Outcome> {
  const started = Date.now()
  try {
    await framed.read({ signal: AbortSignal.timeout(timeoutMs) })
    return { end: 'frame', ms: Date.now() - started }
  } catch (err) {
    const ms = Date.now() - started
    const cause = (err as { cause?: unknown }).cause
    const name = cause instanceof Error ? cause.name : ''
    const error = `${err instanceof Error ? err.message : String(err)} (${name})`
    if (name === 'StreamResetError' || framed.stream.status === 'reset') return { end: 'reset', ms, error }
    if (name === 'UnexpectedEOFError') return { end: 'closed', ms, error }
    if ((name === 'TimeoutError' || name === 'AbortError') && framed.stream.status === 'open') return { end: 'open', ms, error }
    return { end: 'failed', ms, error }
  }
}
