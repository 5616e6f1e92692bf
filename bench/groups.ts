/**
 * Suite 4: one group message to 4, 16 and 64 online members, in process: real libp2p nodes on
 * 127.0.0.1 and the real direct and group services on every side, wired as the peer wires them
 * (made for the node, started, serving the user signed in through the gate): the envelope sealed
 * once under the per-message key, posted on the direct session with each member (`GROUP
 * <group>`), opened and ACKed there; timed from the first post until every member has ACKed.
 *
 * What is stubbed, and why: the key and epoch are given to the sender (what the keyring's
 * keyForDelivery settles: the real SENDGROUP first asks the rendezvous for the member list — see
 * the rendezvous suite for what a look-up costs), and members' keys answer from memory; members'
 * inboxes keep nothing — on real machines each member's fsync runs on its own disk in parallel,
 * while here 64 synchronous sqlite fsyncs would queue on one thread (the direct suite shows that
 * cost).
 *
 * Baseline: the same fan-out over bare libp2p streams, with frames of the same sizes (header,
 * intro, sealed message; an ACK-sized answer), each member answering once it has all three.
 * All nodes share this one process, so the figure is the whole fan-out's CPU on one core.
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import type { ParleyNode } from '../common/node.ts'
import { newGroupKey } from '../common/crypto/group.ts'
import { encodeBody } from '../common/wire/codec.ts'
import { formatHeader } from '../common/wire/headers.ts'
import { toUsername } from '../common/wire/names.ts'
import { directService } from '../peer/direct/service.ts'
import type { DirectService } from '../peer/direct/service.ts'
import { groupService } from '../peer/groups/service.ts'
import type { GroupService } from '../peer/groups/service.ts'
import type { GroupInfo } from '../peer/groups/keyring.ts'
import { SignedInGate } from '../peer/signed-in.ts'
import type { SignedInUser } from '../peer/signed-in.ts'
import type { Dialable } from '../peer/transport/dial.ts'
import { removeDir, tempDir } from '../harness/temp.ts'
import { benchNode, connect, dialable, echoOnce, handleEcho } from './nodes.ts'
import { msSince, summarize } from './stats.ts'
import { row } from './report.ts'
import type { ResultRow, SuiteOptions } from './report.ts'

const GROUP = 'bench-group'
export const TEXT = 'Group message: the quick brown fox jumps over the lazy dog, 0123456789.'
const noEmit = (): void => {}

interface Member { name: string, node: ParleyNode, direct: DirectService, groups: GroupService }

/** Members' keys: the one group, from memory. */
function memoryKeys (info: GroupInfo, key: Uint8Array): SignedInUser['keys'] {
  return {
    info: async () => info,
    keyForSender: async () => key,
    acceptHandedKey: async () => { throw new Error('every member holds the key in the groups bench') },
    whileMember: () => new AbortController().signal,
    listForSender: async () => info
  }
}

/** An inbox that knows every member and keeps nothing. */
function memoryInbox (names: Map<string, string>): SignedInUser['inbox'] {
  return {
    senderOf: async (peerId: string) => toUsername(names.get(peerId) ?? 'unknown'),
    blockedRefusal: () => undefined,
    whileUnblocked: () => ({ signal: new AbortController().signal, done: () => {} }),
    takeText: async (_from, _id, _after, open) => { await open() },
    hasFile: () => false,
    onFile: async () => {},
    onInboundError: () => {}
  }
}

async function member (name: string, info: GroupInfo, key: Uint8Array, names: Map<string, string>, dir: string): Promise<Member> {
  const node = await benchNode()
  const gate = new SignedInGate()
  gate.open({ username: toUsername(name), inbox: memoryInbox(names), keys: memoryKeys(info, key), downloadsDir: join(dir, name), signal: new AbortController().signal, nameCard: () => undefined })
  const direct = directService({ node, signedIn: gate, emit: noEmit }, { messageLimits: { perSecond: 1e9, burst: 1e9 } })
  const groups = groupService({ node, direct, signedIn: gate, emit: noEmit })
  await direct.start()
  await groups.start()
  return { name, node, direct, groups }
}

/** Sizes of the frames one delivery writes, so the baseline moves the same bytes. */
function deliveryFrames (): { frames: Uint8Array[], ackSize: number } {
  const header = formatHeader({ kind: 'GROUP', group: GROUP })
  const intro = encodeBody({ epoch: 1, nonce: randomBytes(16), id: randomBytes(16) })
  const body = encodeBody({ id: randomBytes(16), text: TEXT, sentAt: Date.now() })
  const sealed = (plain: number): number => 8 + (Math.floor(plain / 8) + 1) * 8 + 32
  return {
    frames: [header, intro, randomBytes(sealed(body.length))],
    ackSize: sealed(encodeBody({ ack: randomBytes(16) }).length)
  }
}

export async function groupsSuite ({ quick, log }: SuiteOptions): Promise<ResultRow[]> {
  const sizes = quick ? [4, 16] : [4, 16, 64]
  const runs = quick ? 3 : 9
  const largest = Math.max(...sizes)
  const dir = await tempDir('parley-bench-groups-')
  const names = new Map<string, string>()
  const key = newGroupKey()
  const members: Member[] = []
  const info: GroupInfo = { group: GROUP, epoch: 1, rotationNeeded: false, members: [], maker: undefined, epochAgeMs: 0 }
  const { frames, ackSize } = deliveryFrames()
  try {
    const sender = await member('sender', info, key, names, dir)
    members.push(sender)
    names.set(sender.node.peerId.toString(), 'sender')
    info.members.push({ username: toUsername('sender'), peerId: sender.node.peerId.toString(), online: true, hasKey: true })
    const targets: Dialable[] = []
    for (let i = 0; i < largest; i++) {
      const m = await member(`m${i}`, info, key, names, dir)
      members.push(m)
      names.set(m.node.peerId.toString(), m.name)
      info.members.push({ username: toUsername(m.name), peerId: m.node.peerId.toString(), online: true, hasKey: true })
      targets.push(dialable(m.node, m.name))
      await handleEcho(m.node, frames.length, () => randomBytes(ackSize))
      await connect(sender.node, m.node)
    }

    const parley = async (n: number): Promise<number> => {
      const id = randomBytes(16).toString('hex')
      const start = process.hrtime.bigint()
      await Promise.all(targets.slice(0, n).map(async to => {
        const { acked } = await sender.groups.deliver(to, { id, group: GROUP, kind: 'text', body: TEXT, created: Date.now(), epoch: info.epoch, key }, () => {})
        await acked
      }))
      return msSince(start)
    }
    const bare = async (n: number): Promise<number> => {
      const start = process.hrtime.bigint()
      await Promise.all(targets.slice(0, n).map(async to => { await echoOnce(sender.node, to, frames) }))
      return msSince(start)
    }

    const rows: ResultRow[] = []
    for (const n of sizes) {
      for (let i = 0; i < 3; i++) { await parley(n); await bare(n) } // warm-up
      const p: number[] = []; const b: number[] = []
      for (let run = 0; run < runs; run++) {
        p.push(await parley(n))
        b.push(await bare(n))
      }
      log(`groups ${n} members: Parley ${summarize(p).median.toFixed(2)} ms, bare ${summarize(b).median.toFixed(2)} ms`)
      rows.push(row({
        suite: 'groups',
        metric: `SENDGROUP to ${n} online, all ACKed`,
        unit: 'ms',
        better: 'lower',
        parley: summarize(p),
        baseline: { label: 'bare libp2p fan-out', summary: summarize(b) },
        goal: { text: '<= 1.2x bare fan-out', met: summarize(p).median <= 1.2 * summarize(b).median },
        ...(n === sizes[0] ? { note: `in-process (${largest + 1} nodes, one core); member list and key from memory, members persist nothing; ${runs} runs` } : {})
      }))
    }
    return rows
  } finally {
    await Promise.all(members.map(async m => {
      await m.groups.stop().catch(() => {})
      await m.direct.stop().catch(() => {})
      await m.node.stop()
    }))
    await removeDir(dir)
  }
}
