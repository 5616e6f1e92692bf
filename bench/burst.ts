/**
 * Suite: a burst of SENDs through the real CLI (issue 11: "a 2,000-message burst piped into one
 * peer's CLI is fully delivered at >= 1,000 messages/s"). A real rendezvous and two real peer
 * processes, as `npm run peer -- 0 --json` starts them; the whole burst of `SEND bob burst-<i>`
 * lines is written into alice's stdin at once, and the clock stops at bob's last `message`
 * event. A warm-up burst opens the session first, so the figure is the steady pipeline.
 *
 * Baseline, in the same run: the same number of frames of the same size written at once down one
 * open bare libp2p stream between two nodes (in this process) and read on the other side: what
 * the transport alone does, with no CLI, keys, store or acks.
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import type { Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { FramedStream } from '../common/wire/frames.ts'
import { removeDir, tempDir } from '../harness/temp.ts'
import { spawnRendezvous } from '../harness/processes.ts'
import { BenchPeer } from './peer.ts'
import { benchNode, connect } from './nodes.ts'
import { secondsSince, summarize } from './stats.ts'
import { row } from './report.ts'
import type { ResultRow, SuiteOptions } from './report.ts'

const PASSWORD = 'Correct Horse 9'
const GOAL = 1_000
const SINK_PROTOCOL = '/parley-bench/sink/1.0.0'
/** A SEND of `burst-1234` seals to about this many bytes on the session (IV, blocks, tag, body). */
const FRAME_BYTES = 112

export async function burstSuite ({ quick, log }: SuiteOptions): Promise<ResultRow[]> {
  const size = quick ? 500 : 2_000
  const runs = quick ? 2 : 3
  const dir = await tempDir('parley-bench-burst-')
  const server = await spawnRendezvous(join(dir, 'rendezvous'))
  const peers: BenchPeer[] = []
  try {
    const [alice, bob] = await Promise.all(['alice', 'bob'].map(async name => {
      const peer = await BenchPeer.start(name, server.addr.toString(), join(dir, name))
      peers.push(peer)
      await peer.run(`SIGNUP ${name} ${PASSWORD}`, e => e.event === 'signed-up')
      return peer
    })) as [BenchPeer, BenchPeer]

    let burstNo = 0
    const burst = async (count: number): Promise<number> => {
      const tag = `b${burstNo++}`
      let seen = 0
      const last = bob.next(e => e.event === 'message' && String(e.text).startsWith(`${tag}-`) && ++seen >= count, 120_000)
      const start = process.hrtime.bigint()
      alice.child.stdin?.write(Array.from({ length: count }, (_, i) => `SEND bob ${tag}-${i}\n`).join(''))
      await last
      return count / secondsSince(start)
    }
    await burst(50) // the session, JIT, the store's pages

    const rates: number[] = []
    const bare: number[] = []
    for (let run = 0; run < runs; run++) {
      rates.push(await burst(size))
      bare.push(await bareBurst(size))
      log(`burst run ${run + 1}/${runs}: ${size} SENDs at ${rates.at(-1)!.toFixed(0)} msg/s; bare stream ${bare.at(-1)!.toFixed(0)} frames/s`)
    }
    const rate = summarize(rates)
    return [row({
      suite: 'burst',
      metric: `${size} SEND lines piped into one peer's CLI`,
      unit: 'msg/s',
      better: 'higher',
      parley: rate,
      baseline: { label: 'the same frames down one bare libp2p stream', summary: summarize(bare) },
      goal: { text: `>= ${GOAL} msg/s`, met: rate.median >= GOAL },
      note: 'whole burst written to stdin until the receiver\'s last `message` event; 2 processes, each message stored (fsync) on both sides and ACKed'
    })]
  } finally {
    await Promise.all(peers.map(async peer => { await peer.quit() }))
    await server.stop()
    await removeDir(dir)
  }
}

/** `count` frames written at once down one open stream, timed until the other side read them all. */
async function bareBurst (count: number): Promise<number> {
  const [from, to] = await Promise.all([benchNode(), benchNode()])
  try {
    let received: (() => void) | undefined
    const done = new Promise<void>(resolve => { received = resolve })
    await to.handle(SINK_PROTOCOL, (stream: Stream) => {
      void (async () => {
        const framed = new FramedStream(stream)
        try {
          for (let i = 0; i < count; i++) await framed.read()
          received?.()
        } catch (err) {
          framed.abort(err)
        } finally {
          await framed.close()
        }
      })()
    })
    await connect(from, to)
    const framed = new FramedStream(await from.dialProtocol(peerIdFromString(to.peerId.toString()), SINK_PROTOCOL))
    const frames = Array.from({ length: count }, () => randomBytes(FRAME_BYTES))
    const start = process.hrtime.bigint()
    try {
      for (const frame of frames) await framed.write(frame)
      await done
    } finally {
      await framed.close()
    }
    return count / secondsSince(start)
  } finally {
    await Promise.all([from.stop(), to.stop()])
  }
}
