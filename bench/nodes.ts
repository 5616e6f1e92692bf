/**
 * In-process peers for the direct and group suites: real libp2p nodes (TCP on 127.0.0.1, Noise,
 * yamux, never mDNS) built by the product's own createParleyNode as a peer builds its node, and
 * the bare echo protocol the baselines use.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { Stream } from '@libp2p/interface'
import { createParleyNode } from '../common/node.ts'
import type { ParleyNode } from '../common/node.ts'
import { FramedStream } from '../common/wire/frames.ts'
import type { Dialable } from '../peer/transport/dial.ts'
import { MAX_INBOUND_STREAMS, MAX_OUTBOUND_STREAMS } from '../peer/constants.ts'
import { toUsername } from '../common/wire/names.ts'

/** A peer's node is told where its rendezvous (and relay) is, and that is what makes it a peer's:
 * no identify between peers, no keep-alive pings (common/node.ts). Here nothing listens at that
 * address (the bench has no rendezvous), so no reservation is ever made. */
const NO_RENDEZVOUS = multiaddr('/ip4/127.0.0.1/tcp/1/p2p/12D3KooWBtg3aaRMjU6Kr6uQJ6Z3jT6WjvPjy6X9P2sWwPpnh3mA')

/** A node configured as a peer's (peer/app.ts): the baselines pay what the product's peers pay
 * for a connection, and no more (a node with identify on, as the rendezvous runs it, paid an
 * identify exchange each way on every first contact). */
export async function benchNode (): Promise<ParleyNode> {
  return await createParleyNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], relay: { relayAt: NO_RENDEZVOUS } })
}

/** How a peer appears to another after a directory look-up: the product dials with this. */
export function dialable (node: ParleyNode, username: string): Dialable {
  return { username: toUsername(username), peerId: node.peerId.toString(), addrs: node.getMultiaddrs().map(addr => addr.toString()) }
}

/** Open the connection now, so every measurement runs on an existing connection. */
export async function connect (from: ParleyNode, to: ParleyNode): Promise<void> {
  const addr = to.getMultiaddrs()[0]
  if (addr === undefined) throw new Error('node has no listen address')
  await from.dial(addr)
}

const ECHO_PROTOCOL = '/parley-bench/echo/1.0.0'

/**
 * The bare baseline: read `frames` frames, answer each with `reply(frame)` (the same bytes back
 * unless told otherwise), close both halves. No header parsing, no keys, no store.
 */
export async function handleEcho (node: ParleyNode, frames = 1, reply: (frame: Uint8Array) => Uint8Array = frame => frame): Promise<void> {
  await node.handle(ECHO_PROTOCOL, (stream: Stream) => {
    void (async () => {
      const framed = new FramedStream(stream)
      try {
        for (let i = 0; i < frames; i++) {
          const frame = await framed.read()
          if (i === frames - 1) await framed.write(reply(frame))
        }
      } catch (err) {
        framed.abort(err)
      } finally {
        await framed.close()
      }
    })()
  }, { maxInboundStreams: MAX_INBOUND_STREAMS, maxOutboundStreams: MAX_OUTBOUND_STREAMS })
}

/** One bare exchange: open a stream with libp2p's defaults, write `frames`, read one back, close. */
export async function echoOnce (from: ParleyNode, to: Dialable, frames: Uint8Array[]): Promise<void> {
  await exchange(await from.dialProtocol(peerIdFromString(to.peerId), ECHO_PROTOCOL), frames)
}

/** The first-contact baseline: dial `to` at the addresses a look-up gave (a new connection: TCP,
 * Noise, yamux), then one bare exchange on a new stream, as echoOnce. */
export async function dialEchoOnce (from: ParleyNode, to: Dialable, frames: Uint8Array[]): Promise<void> {
  await exchange(await from.dialProtocol(to.addrs.map(addr => multiaddr(addr)), ECHO_PROTOCOL), frames)
}

async function exchange (stream: Stream, frames: Uint8Array[]): Promise<void> {
  const framed = new FramedStream(stream)
  try {
    for (const frame of frames) await framed.write(frame)
    await framed.read()
  } catch (err) {
    framed.abort(err)
    throw err
  } finally {
    await framed.close()
  }
}

const STREAM_ECHO_PROTOCOL = '/parley-bench/echo-stream/1.0.0'

/** The open-stream baseline's server: echo every frame on one long-lived stream until it ends. */
export async function handleStreamEcho (node: ParleyNode): Promise<void> {
  await node.handle(STREAM_ECHO_PROTOCOL, (stream: Stream) => {
    void (async () => {
      const framed = new FramedStream(stream)
      try {
        for (;;) await framed.write(await framed.read())
      } catch {
        // the benchmark closed its end
      } finally {
        framed.abort(new Error('echo ended'))
      }
    })()
  }, { maxInboundStreams: MAX_INBOUND_STREAMS, maxOutboundStreams: MAX_OUTBOUND_STREAMS })
}

/** One long-lived stream to `to` (what a session is to a SEND): each exchange writes a frame and
 * waits for its echo. */
export async function openEcho (from: ParleyNode, to: Dialable): Promise<{ exchange: (frame: Uint8Array) => Promise<void>, close: () => void }> {
  const framed = new FramedStream(await from.dialProtocol(peerIdFromString(to.peerId), STREAM_ECHO_PROTOCOL))
  return {
    exchange: async frame => {
      await framed.write(frame)
      await framed.read()
    },
    close: () => { framed.abort(new Error('benchmark done')) }
  }
}

/** Run `task` `count` times with at most `concurrency` in flight. */
export async function pool (count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) await task(next++)
  }))
}
