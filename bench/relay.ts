/**
 * Suite: the relay on the rendezvous (issue 13) against a direct connection, on loopback. Three
 * in-process nodes built by the product's createParleyNode: a relay server as the rendezvous
 * runs it, a peer holding a reservation on it, and a dialler with one direct and one relayed
 * connection to that peer (relayed = through the relay node, both hops Noise + yamux, the
 * inner Noise end to end). Measured on each: a stream opened, one 1 KiB frame echoed, closed
 * (the transport part of a SEND's round trips); and 64 KiB frames streamed one way and
 * acknowledged at the end (a file's transport). Parley's own work on top (DH, 3DES, store) is
 * the same either way; see the direct and files suites for it.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import type { Connection, Stream } from '@libp2p/interface'
import { createParleyNode } from '../common/node.ts'
import type { ParleyNode } from '../common/node.ts'
import { FramedStream } from '../common/wire/frames.ts'
import { MB, MiB, msSince, secondsSince, summarize } from './stats.ts'
import { row } from './report.ts'
import type { ResultRow, SuiteOptions } from './report.ts'

const ECHO = '/parley-bench/relay-echo/1.0.0'
const SINK = '/parley-bench/relay-sink/1.0.0'
const FRAME = 64 * 1024
const limited = { runOnLimitedConnection: true, maxInboundStreams: 1024, maxOutboundStreams: 1024 }

async function node (relay?: Parameters<typeof createParleyNode>[0]['relay']): Promise<ParleyNode> {
  return await createParleyNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], relay })
}

async function serve (target: ParleyNode): Promise<void> {
  const run = (work: (framed: FramedStream) => Promise<void>) => (stream: Stream): void => {
    const framed = new FramedStream(stream)
    void work(framed).catch(err => { framed.abort(err) }).finally(() => { void framed.close().catch(() => {}) })
  }
  await target.handle(ECHO, run(async framed => { await framed.write(await framed.read()) }), limited)
  await target.handle(SINK, run(async framed => {
    for (;;) {
      const frame = await framed.read()
      if (frame.length === 0) break
    }
    await framed.write(new Uint8Array(1))
  }), limited)
}

async function echo (connection: Connection, frame: Uint8Array): Promise<number> {
  const start = process.hrtime.bigint()
  const framed = new FramedStream(await connection.newStream(ECHO, limited))
  try {
    await framed.write(frame)
    await framed.read()
  } finally {
    await framed.close()
  }
  return msSince(start)
}

async function stream (connection: Connection, bytes: number): Promise<number> {
  const start = process.hrtime.bigint()
  const framed = new FramedStream(await connection.newStream(SINK, limited))
  const chunk = new Uint8Array(FRAME).fill(7)
  try {
    for (let sent = 0; sent < bytes; sent += FRAME) await framed.write(chunk)
    await framed.write(new Uint8Array(0))
    await framed.read()
  } finally {
    await framed.close()
  }
  return bytes / MB / secondsSince(start)
}

export async function relaySuite ({ quick, log }: SuiteOptions): Promise<ResultRow[]> {
  const nodes: ParleyNode[] = []
  try {
    const relay = await node({
      server: {
        maxReservations: 16, reservationTtlMs: 60_000, durationLimitMs: 60 * 60_000, dataLimitBytes: 1n << 32n, maxHopStreams: 64, allowRelayedConnection: () => true
      }
    })
    nodes.push(relay)
    const relayAddr = relay.getMultiaddrs()[0]!
    const target = await node({ relayAt: relayAddr })
    nodes.push(target)
    await serve(target)
    await target.dial(relayAddr)
    const deadline = Date.now() + 15_000
    while (!target.getMultiaddrs().some(a => a.toString().includes('/p2p-circuit'))) {
      if (Date.now() > deadline) throw new Error('no reservation on the relay within 15 s')
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    const viaRelay = await node()
    const direct = await node()
    nodes.push(viaRelay, direct)
    const relayed = await viaRelay.dial(multiaddr(`${relayAddr.toString()}/p2p-circuit/p2p/${target.peerId.toString()}`))
    const straight = await direct.dial(target.getMultiaddrs().find(a => !a.toString().includes('/p2p-circuit'))!)
    if (relayed.limits === undefined || straight.limits !== undefined) throw new Error('expected one relayed (limited) and one direct connection')
    log('relay: one relayed and one direct connection open')

    const frame = new Uint8Array(1024).fill(1)
    const rounds = quick ? 50 : 400
    for (let i = 0; i < 20; i++) { await echo(relayed, frame); await echo(straight, frame) } // warm-up
    const latency = { relayed: [] as number[], direct: [] as number[] }
    for (let i = 0; i < rounds; i++) {
      latency.relayed.push(await echo(relayed, frame))
      latency.direct.push(await echo(straight, frame))
    }
    const bytes = (quick ? 16 : 128) * MiB
    const runs = quick ? 2 : 3
    const rate = { relayed: [] as number[], direct: [] as number[] }
    for (let i = 0; i < runs; i++) {
      rate.relayed.push(await stream(relayed, bytes))
      rate.direct.push(await stream(straight, bytes))
    }
    return [
      row({
        suite: 'relay',
        metric: 'stream open + 1 KiB echo p50, through the relay',
        unit: 'ms',
        better: 'lower',
        parley: summarize(latency.relayed),
        baseline: { label: 'direct connection', summary: summarize(latency.direct) },
        note: 'loopback; transport only (a SEND adds the same DH, 3DES and store either way)'
      }),
      row({
        suite: 'relay',
        metric: `${bytes / MiB} MiB one way in 64 KiB frames, through the relay`,
        unit: 'MB/s',
        better: 'higher',
        parley: summarize(rate.relayed),
        baseline: { label: 'direct connection', summary: summarize(rate.direct) },
        note: 'loopback, no 3DES, all three nodes on one core: the relay\'s own cost (SENDFILE, bounded by 3DES at ~27 MB/s, comes close to it)'
      })
    ]
  } finally {
    await Promise.all(nodes.map(async n => { await n.stop() }))
  }
}
