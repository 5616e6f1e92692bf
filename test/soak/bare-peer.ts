/**
 * The soak's baseline (`--bare`): the same plan and traffic as whole Parley peers, carried by
 * bare libp2p nodes — built by the product's own createParleyNode with a peer's configuration
 * (TCP, Noise, yamux, no identify between peers) — and nothing else: each delivery is a new
 * stream to the recipient (a new connection the first time), one frame there and an ACK frame
 * back. No rendezvous look-up, no session X25519, no 3DES, no store, no outbox, no retry.
 *
 * It answers the question a slow soak raises: how much of the cost is Parley's, and how much is
 * libp2p's own on this machine? A ParleyPeer and a BarePeer look alike to the soak worker
 * (SoakPeer), and report the same events, so the same checks and latency figures apply.
 */
import { randomUUID } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Stream } from '@libp2p/interface'
import { ErrorCode } from '../../common/errors.ts'
import { createParleyNode } from '../../common/node.ts'
import type { ParleyNode } from '../../common/node.ts'
import { FramedStream } from '../../common/wire/frames.ts'
import { MAX_INBOUND_STREAMS, MAX_OUTBOUND_STREAMS } from '../../peer/constants.ts'
import type { PeerEvent } from '../../peer/events.ts'
import type { GroupName, Username } from '../../common/wire/names.ts'
import { groupName, peerName } from './protocol.ts'

const PROTOCOL = '/parley-soak/bare/1.0.0'
const ACK = new Uint8Array([1])
const utf8 = { encoder: new TextEncoder(), decoder: new TextDecoder() }

/** What the soak worker asks of a peer, Parley's or bare. */
export interface SoakPeer {
  send: (to: Username, text: string) => Promise<unknown>
  sendGroup: (group: GroupName, text: string) => Promise<unknown>
  join: (group: GroupName) => Promise<unknown>
  stop: () => Promise<unknown>
}

interface Frame { from: string, group: string | null, id: string, text: string }

export class BarePeer implements SoakPeer {
  readonly #node: ParleyNode
  readonly #name: string
  readonly #emit: (event: PeerEvent) => void
  /** Everyone's address, by peer name (what a directory look-up would answer). */
  readonly #addresses = new Map<string, Multiaddr>()
  readonly #members = new Map<string, string[]>()

  private constructor (node: ParleyNode, name: string, emit: (event: PeerEvent) => void) {
    this.#node = node
    this.#name = name
    this.#emit = emit
  }

  /** A node listening on 127.0.0.1, configured as a peer whose relay is `rendezvous` (never
   * dialed: the bare peers do not sign in). */
  static async start (index: number, rendezvous: Multiaddr, emit: (event: PeerEvent) => void): Promise<BarePeer> {
    const node = await createParleyNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], relay: { relayAt: rendezvous } })
    const peer = new BarePeer(node, peerName(index), emit)
    await node.handle(PROTOCOL, (stream: Stream) => { void peer.#receive(stream) },
      { maxInboundStreams: MAX_INBOUND_STREAMS, maxOutboundStreams: MAX_OUTBOUND_STREAMS })
    return peer
  }

  /** Where this peer listens, with its peer id: what a directory look-up would give. */
  get address (): string {
    const addr = this.#node.getMultiaddrs().find(a => !a.toString().includes('/p2p-circuit'))
    if (addr === undefined) throw new Error(`${this.#name} has no listen address`)
    return addr.toString()
  }

  /** Everyone's address (by peer index) and the groups (peer indexes): the bare directory. */
  meet (addresses: string[], groups: number[][]): void {
    addresses.forEach((address, index) => { this.#addresses.set(peerName(index), multiaddr(address)) })
    groups.forEach((members, g) => { this.#members.set(groupName(g), members.map(peerName)) })
  }

  async join (): Promise<void> {}

  /** Accepted at once; the delivery runs on (as a SEND's does after its outbox write). */
  async send (to: Username, text: string): Promise<void> {
    this.#deliver(to, { from: this.#name, group: null, id: randomUUID(), text })
  }

  /** One delivery per other member, in parallel: the bare fan-out. */
  async sendGroup (group: GroupName, text: string): Promise<void> {
    const frame: Frame = { from: this.#name, group, id: randomUUID(), text }
    for (const member of this.#members.get(group) ?? []) if (member !== this.#name) this.#deliver(member, frame)
  }

  async stop (): Promise<void> {
    await this.#node.stop()
  }

  #deliver (to: string, frame: Frame): void {
    const address = this.#addresses.get(to)
    void (async () => {
      if (address === undefined) throw new Error(`no address for ${to}`)
      const framed = new FramedStream(await this.#node.dialProtocol(address, PROTOCOL))
      try {
        await framed.write(utf8.encoder.encode(JSON.stringify(frame)))
        await framed.read()
      } catch (err) {
        framed.abort(err)
        throw err
      }
      await framed.close()
      this.#emit({ event: 'delivered', id: frame.id, to, group: frame.group, name: null })
    })().catch((err: unknown) => {
      this.#emit({ event: 'error', code: ErrorCode.Unreachable, message: `to ${to}: ${err instanceof Error ? err.message : String(err)}` })
    })
  }

  async #receive (stream: Stream): Promise<void> {
    const framed = new FramedStream(stream)
    try {
      const frame = JSON.parse(utf8.decoder.decode(await framed.read())) as Frame
      const at = Date.now()
      this.#emit(frame.group === null
        ? { event: 'message', id: frame.id, from: frame.from, text: frame.text, at, sentAt: at }
        : { event: 'group-message', id: frame.id, group: frame.group, from: frame.from, text: frame.text, at, sentAt: at })
      await framed.write(ACK)
      await framed.close()
    } catch (err) {
      framed.abort(err)
      this.#emit({ event: 'error', code: ErrorCode.Protocol, message: err instanceof Error ? err.message : String(err) })
    }
  }
}
