/**
 * The peer protocols as services (peer/direct/service.ts, peer/groups/service.ts) on real libp2p
 * nodes on loopback, and the gate they serve through (peer/signed-in.ts): start() registers each
 * protocol and stop() unregisters it; a stream that arrives while a sign-in is still opening its
 * session waits for it and is then served; with nobody signed in within a step it is refused. A
 * file cut by our own disk is said once, by the receiver's file-cut line.
 */
import { afterEach, beforeEach, describe, it, mock } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { loopbackNode } from '../../helpers/nodes.ts'
import type { ParleyNode } from '../../../common/node.ts'
import { ErrorCode, ParleyError, is } from '../../../common/errors.ts'
import { DIRECT_PROTOCOL, GROUP_PROTOCOL } from '../../../common/protocol/peer.ts'
import { STEP_TIMEOUT_MS } from '../../../peer/constants.ts'
import { directService } from '../../../peer/direct/service.ts'
import type { DirectService } from '../../../peer/direct/service.ts'
import type { IncomingText } from '../../../peer/inbox.ts'
import { groupService } from '../../../peer/groups/service.ts'
import type { GroupService } from '../../../peer/groups/service.ts'
import { SignedInGate } from '../../../peer/signed-in.ts'
import type { SignedInUser } from '../../../peer/signed-in.ts'
import { toGroupName, toUsername } from '../../../common/wire/names.ts'
import { open, readdir, rm, writeFile } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import type { Emit, PeerEvent } from '../../../peer/events.ts'
import { CHUNK_SIZE } from '../../../common/crypto/chunks.ts'
import { CREDIT_EVERY_CHUNKS } from '../../../peer/files/constants.ts'
import { cutSaid } from '../../../peer/files/handoff.ts'
import { PartialTransfer, partialDirOf } from '../../../peer/files/partial.ts'
import { removeDir, tempDir } from '../../../harness/temp.ts'
import { PeerProcess } from '../../../harness/processes.ts'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { openStream } from '../../../peer/transport/dial.ts'
import { initiateDirectChannel } from '../../../peer/transport/channel.ts'
import { formatHeader } from '../../../common/wire/headers.ts'
import { MAX_TEXT_BYTES } from '../../../common/wire/limits.ts'
import { encodeBody } from '../../../common/wire/codec.ts'
import { sealGroupText } from '../../../peer/groups/envelope.ts'
import { newGroupKey } from '../../../common/crypto/group.ts'

const noGroups: SignedInUser['keys'] = {
  acceptHandedKey: async () => { throw new Error('no groups here') },
  info: async () => { throw new Error('no groups here') },
  keyForSender: async () => { throw new Error('no groups here') },
  whileMember: () => { throw new Error('no groups here') },
  listForSender: async () => { throw new Error('no groups here') }
}

/** A user whose inbox knows `names` (peer id → username) and records the texts it is given. */
function userOf (username: string, names: Map<string, string>, texts: IncomingText[]): SignedInUser {
  return {
    username: toUsername(username),
    inbox: {
      senderOf: async peerId => toUsername(names.get(peerId) ?? 'unknown'),
      blockedRefusal: () => undefined,
      whileUnblocked: () => ({ signal: new AbortController().signal, done: () => {} }),
      takeText: async (_from, _id, _after, open) => { texts.push(await open()) },
      hasFile: () => false,
      onFile: async () => {},
      onInboundError: () => {}
    },
    keys: noGroups,
    downloadsDir: '/nonexistent',
    signal: new AbortController().signal,
    nameCard: () => undefined
  }
}

interface Peer { node: ParleyNode, gate: SignedInGate, direct: DirectService, groups: GroupService }

async function peer (emit: Emit = () => {}): Promise<Peer> {
  const node = await loopbackNode()
  const gate = new SignedInGate()
  const direct = directService({ node, signedIn: gate, emit })
  const groups = groupService({ node, direct, signedIn: gate, emit })
  return { node, gate, direct, groups }
}

describe('peer protocol services', () => {
  let alice: Peer
  let bob: Peer
  beforeEach(async () => {
    alice = await peer()
    bob = await peer()
  })
  afterEach(async () => {
    for (const p of [alice, bob]) {
      await p.groups.stop()
      await p.direct.stop()
      await p.node.stop()
    }
  })

  it('start() registers each protocol and stop() unregisters it', async () => {
    assert.ok(!alice.node.getProtocols().includes(DIRECT_PROTOCOL))
    await alice.direct.start()
    await alice.groups.start()
    assert.ok(alice.node.getProtocols().includes(DIRECT_PROTOCOL))
    assert.ok(alice.node.getProtocols().includes(GROUP_PROTOCOL))
    await alice.groups.stop()
    await alice.direct.stop()
    assert.ok(!alice.node.getProtocols().includes(DIRECT_PROTOCOL))
    assert.ok(!alice.node.getProtocols().includes(GROUP_PROTOCOL))
  })

  it('a message that arrives while the receiver is still signing in waits for its session, then is stored', async () => {
    await alice.direct.start()
    await bob.direct.start()
    const names = new Map([[alice.node.peerId.toString(), 'alice'], [bob.node.peerId.toString(), 'bob']])
    const bobGot: IncomingText[] = []
    alice.gate.open(userOf('alice', names, []))
    const to = { username: toUsername('bob'), peerId: bob.node.peerId.toString(), addrs: bob.node.getMultiaddrs().map(a => a.toString()) }
    const id = randomBytes(16)
    const sent = alice.direct.sendText(to, id, 'are you there yet?')
    // Bob's stream is waiting in the gate; his session opens a moment later.
    await new Promise(resolve => setTimeout(resolve, 300))
    assert.equal(bobGot.length, 0)
    bob.gate.open(userOf('bob', names, bobGot))
    await sent
    assert.deepEqual(bobGot.map(t => [t.from, t.text]), [['alice', 'are you there yet?']])
  })

  it('the opener\'s name card reaches the receiver with the opener\'s peer id; without one, none does', async () => {
    await alice.direct.start()
    await bob.direct.start()
    const names = new Map([[alice.node.peerId.toString(), 'alice'], [bob.node.peerId.toString(), 'bob']])
    const shown: Array<[string, Uint8Array | undefined]> = []
    const bobUser = userOf('bob', names, [])
    const senderOf = bobUser.inbox.senderOf
    bobUser.inbox = { ...bobUser.inbox, senderOf: async (peerId, card) => { shown.push([peerId, card]); return await senderOf(peerId, card) } }
    bob.gate.open(bobUser)
    alice.gate.open({ ...userOf('alice', names, []), nameCard: () => new Uint8Array([1, 2, 3]) })
    await alice.direct.sendText({ username: toUsername('bob'), peerId: bob.node.peerId.toString(), addrs: bob.node.getMultiaddrs().map(a => a.toString()) }, randomBytes(16), 'hi')
    assert.deepEqual(shown, [[alice.node.peerId.toString(), new Uint8Array([1, 2, 3])]])
    // Bob holds no card: his hello to a new peer carries none.
    const aliceUser = userOf('alice', names, [])
    let aliceShown: Uint8Array | undefined = new Uint8Array(1)
    aliceUser.inbox = { ...aliceUser.inbox, senderOf: async (peerId, card) => { aliceShown = card; return toUsername(names.get(peerId) ?? 'unknown') } }
    const fresh = await peer()
    try {
      await fresh.direct.start()
      fresh.gate.open(aliceUser)
      await bob.direct.sendText({ username: toUsername('alice'), peerId: fresh.node.peerId.toString(), addrs: fresh.node.getMultiaddrs().map(a => a.toString()) }, randomBytes(16), 'back')
      assert.equal(aliceShown, undefined)
    } finally {
      await fresh.direct.stop()
      await fresh.node.stop()
    }
  })

  it('a file cut by a disk too full to keep even what came is said in its file-cut line alone, with no warning of the same (round 15: both)', async () => {
    const bobShown: PeerEvent[] = []
    const receiver = await peer(event => { bobShown.push(event) })
    await alice.direct.start()
    await receiver.direct.start()
    const names = new Map([[alice.node.peerId.toString(), 'alice'], [receiver.node.peerId.toString(), 'bob']])
    const dir = await tempDir('parley-services-')
    const refused: unknown[] = []
    const bobUser = { ...userOf('bob', names, []), downloadsDir: join(dir, 'downloads') }
    bobUser.inbox = { ...bobUser.inbox, onInboundError: (_peerId: string, err: unknown) => { refused.push(err) } }
    receiver.gate.open(bobUser)
    alice.gate.open(userOf('alice', names, []))
    const path = join(dir, 'movie.bin')
    await writeFile(path, randomBytes(CHUNK_SIZE * 20))
    // Bob's disk fills after 9 chunks (a real ENOSPC from /dev/full), and has no room left for
    // the part's record either.
    const full = await open('/dev/full', 'w')
    const handles = Object.getPrototypeOf(full) as FileHandle
    const write = Reflect.get(handles, 'write') as (this: FileHandle, ...args: unknown[]) => Promise<unknown>
    let written = 0
    const fault = mock.method(handles, 'write', function (this: FileHandle, buffer: Uint8Array, ...rest: unknown[]) {
      return write.call(buffer.length === CHUNK_SIZE && ++written > 9 ? full : this, buffer, ...rest)
    })
    const keep = mock.method(PartialTransfer.prototype, 'keep', async function (this: PartialTransfer, partPath: string) {
      await rm(partPath, { force: true })
      await this.discard()
      return false
    })
    try {
      const to = { username: toUsername('bob'), peerId: receiver.node.peerId.toString(), addrs: receiver.node.getMultiaddrs().map(a => a.toString()) }
      await assert.rejects(alice.direct.sendFile(to, randomBytes(16), path, undefined, Date.now()), (err: unknown) => is(err, ErrorCode.NoSpace))
      for (const deadline = Date.now() + 10_000; refused.length === 0 && Date.now() < deadline;) await new Promise(resolve => setTimeout(resolve, 20))
    } finally {
      fault.mock.restore()
      keep.mock.restore()
      await full.close()
      await receiver.direct.stop()
      await receiver.node.stop()
      await removeDir(dir)
    }
    const cuts = bobShown.filter(e => e.event === 'file-cut')
    assert.equal(cuts.length, 1, JSON.stringify(bobShown))
    assert.ok(cuts[0]?.event === 'file-cut' && cuts[0].cause === 'local' && /nor keep what came/.test(cuts[0].reason), JSON.stringify(cuts))
    assert.equal(refused.length, 1)
    assert.equal(cutSaid(refused[0]), true, 'said by its file-cut line: the inbox warns of nothing more')
  })

  it('a file already recorded, sent again (its ACK lost), lets go of its transfer\'s record left by a kill (round 49: it stayed a week)', async () => {
    await alice.direct.start()
    await bob.direct.start()
    const names = new Map([[alice.node.peerId.toString(), 'alice'], [bob.node.peerId.toString(), 'bob']])
    const dir = await tempDir('parley-services-')
    try {
      const downloadsDir = join(dir, 'downloads')
      const id = new Uint8Array(randomBytes(16))
      const bobUser = { ...userOf('bob', names, []), downloadsDir }
      bobUser.inbox = { ...bobUser.inbox, hasFile: () => true }
      bob.gate.open(bobUser)
      alice.gate.open(userOf('alice', names, []))
      const left = await PartialTransfer.claim(downloadsDir, 'alice', id, null, 'movie.bin')
      await left.intend(join(downloadsDir, 'movie.bin.part'), { id, size: CHUNK_SIZE, sha256: new Uint8Array(32) })
      left.release()
      assert.equal((await readdir(partialDirOf(downloadsDir))).length, 1)
      const path = join(dir, 'movie.bin')
      await writeFile(path, randomBytes(CHUNK_SIZE))
      const to = { username: toUsername('bob'), peerId: bob.node.peerId.toString(), addrs: bob.node.getMultiaddrs().map(a => a.toString()) }
      await alice.direct.sendFile(to, id, path, undefined, Date.now())
      assert.deepEqual(await readdir(partialDirOf(downloadsDir)), [])
    } finally {
      await removeDir(dir)
    }
  })

  it('a file blocked in its last chunks, where no credit is left for a STOP, is refused in its ACK\'s place: its sender gives it up at once (round 49: it read a cut)', async () => {
    const blocked = new AbortController()
    const receiver = await peer(event => { if (event.event === 'progress' && event.direction === 'receive' && event.bytes < event.total) blocked.abort() })
    await alice.direct.start()
    await receiver.direct.start()
    const names = new Map([[alice.node.peerId.toString(), 'alice'], [receiver.node.peerId.toString(), 'bob']])
    const dir = await tempDir('parley-services-')
    try {
      const bobUser = { ...userOf('bob', names, []), downloadsDir: join(dir, 'downloads') }
      bobUser.inbox = {
        ...bobUser.inbox,
        blockedRefusal: () => blocked.signal.aborted ? new ParleyError(ErrorCode.Forbidden, 'you are blocked: nothing of yours is taken') : undefined,
        whileUnblocked: () => ({ signal: blocked.signal, done: () => {} })
      }
      receiver.gate.open(bobUser)
      alice.gate.open(userOf('alice', names, []))
      // So small that it needs no credit: its sender reads the verdict, then the ACK.
      const path = join(dir, 'movie.bin')
      await writeFile(path, randomBytes(CHUNK_SIZE * CREDIT_EVERY_CHUNKS))
      const to = { username: toUsername('bob'), peerId: receiver.node.peerId.toString(), addrs: receiver.node.getMultiaddrs().map(a => a.toString()) }
      await assert.rejects(alice.direct.sendFile(to, randomBytes(16), path, undefined, Date.now()),
        (err: unknown) => is(err, ErrorCode.Forbidden) && /^refused by the recipient: you are blocked/.test(err.message))
      assert.equal(blocked.signal.aborted, true, 'blocked as the file came')
      assert.deepEqual(await readdir(join(dir, 'downloads')).catch(() => []), [], 'nothing of it kept')
    } finally {
      await receiver.direct.stop()
      await receiver.node.stop()
      await removeDir(dir)
    }
  })

  it('a sign-out ends every session of that user, those it opened and those opened to it, and only those', async () => {
    const carol = await peer()
    try {
      for (const p of [alice, bob, carol]) await p.direct.start()
      const names = new Map([[alice.node.peerId.toString(), 'alice'], [bob.node.peerId.toString(), 'bob'], [carol.node.peerId.toString(), 'carol']])
      const signOut = new AbortController()
      alice.gate.open({ ...userOf('alice', names, []), signal: signOut.signal })
      bob.gate.open(userOf('bob', names, []))
      carol.gate.open(userOf('carol', names, []))
      const contact = (p: Peer, username: string): { username: ReturnType<typeof toUsername>, peerId: string, addrs: string[] } =>
        ({ username: toUsername(username), peerId: p.node.peerId.toString(), addrs: p.node.getMultiaddrs().map(a => a.toString()) })
      await alice.direct.sendText(contact(bob, 'bob'), randomBytes(16), 'alice opens this one')
      await carol.direct.sendText(contact(alice, 'alice'), randomBytes(16), 'carol opens this one')
      await bob.direct.sendText(contact(carol, 'carol'), randomBytes(16), 'not alice\'s')
      const aliceSessions = [alice.direct.sessions.find(bob.node.peerId.toString()), alice.direct.sessions.find(carol.node.peerId.toString())]
      assert.ok(aliceSessions.every(session => session !== undefined))
      signOut.abort()
      await Promise.all(aliceSessions.map(async session => await session?.ended))
      assert.equal(alice.direct.connected(bob.node.peerId.toString()), false)
      assert.equal(alice.direct.connected(carol.node.peerId.toString()), false)
      assert.equal(bob.direct.connected(carol.node.peerId.toString()), true, 'bob and carol\'s session goes on')
    } finally {
      await carol.direct.stop()
      await carol.node.stop()
    }
  })
})

describe('texts on a session', () => {
  it('the longest text goes, direct and sealed for a group; a body longer than any text is refused before it may wait (round 46: 80 KiB frames held waiting)', async () => {
    const alice = await peer()
    const bob = await peer()
    try {
      for (const p of [alice, bob]) await p.direct.start()
      const names = new Map([[alice.node.peerId.toString(), 'alice'], [bob.node.peerId.toString(), 'bob']])
      const texts: IncomingText[] = []
      alice.gate.open(userOf('alice', names, []))
      const bobUser = userOf('bob', names, texts)
      let taken = 0
      const takeText = bobUser.inbox.takeText
      bob.gate.open({ ...bobUser, inbox: { ...bobUser.inbox, takeText: async (...args) => { taken++; await takeText(...args) } } })
      const toBob = { username: toUsername('bob'), peerId: bob.node.peerId.toString(), addrs: bob.node.getMultiaddrs().map(a => a.toString()) }
      const longest = 'é'.repeat(MAX_TEXT_BYTES / 2)
      await alice.direct.sendText(toBob, randomBytes(16), longest)
      assert.equal(texts[0]?.text, longest)
      // A group's envelope of the longest text, at the largest epoch, fits the same limit.
      const envelope = sealGroupText({ group: toGroupName('club'), id: randomBytes(16), text: longest, sentAt: Date.now() }, 2 ** 32, newGroupKey())
      assert.ok(encodeBody({ ...envelope }).length <= MAX_TEXT_BYTES + 512, String(encodeBody({ ...envelope }).length))
      const before = taken
      const { acked } = await alice.direct.post(toBob, { kind: 'MSG' }, randomBytes(16), { padding: new Uint8Array(MAX_TEXT_BYTES + 600) })
      await assert.rejects(acked) // the session ends on it: a breach (too large), not a text
      assert.equal(taken, before, 'refused before it is taken, so it waits for nothing and holds nothing')
    } finally {
      for (const p of [alice, bob]) {
        await p.direct.stop()
        await p.node.stop()
      }
    }
  })
})

describe('a peer that may have frozen', () => {
  it('checkAlive keeps the connection to a peer that answers, and ends the one to a process that froze (round 47: 30 s of texts to a device asleep)', { timeout: 30_000 }, async () => {
    const alice = await peer()
    const bob = await peer()
    const dir = await tempDir('parley-alive-')
    // A real peer process, reached at its address, then stopped (SIGSTOP) as a laptop asleep is.
    const frozen = await PeerProcess.start('frozen', '/ip4/127.0.0.1/tcp/9', dir)
    try {
      await alice.node.dial(bob.node.getMultiaddrs()[0]!)
      const ready = frozen.events.find(e => e.event === 'ready')
      await alice.node.dial(multiaddr(String((ready?.addrs as string[])[0])))
      const frozenId = peerIdFromString(String(ready?.peerId))
      await alice.direct.checkAlive(bob.node.peerId.toString())
      assert.equal(alice.node.getConnections(bob.node.peerId).length, 1, 'bob answered: kept')
      frozen.child.kill('SIGSTOP')
      await alice.direct.checkAlive(frozenId.toString())
      assert.equal(alice.node.getConnections(frozenId).filter(c => c.status === 'open').length, 0, 'no answer: ended')
    } finally {
      frozen.child.kill('SIGCONT')
      await frozen.kill()
      for (const p of [alice, bob]) {
        await p.direct.stop()
        await p.node.stop()
      }
      await removeDir(dir)
    }
  })
})

describe('sessions with one peer', () => {
  it('at most 4 are kept: a fifth ends the oldest (round 46: one account opened 335 idle sessions, 64 kB each, kept their hour)', async () => {
    const alice = await peer()
    const bob = await peer()
    try {
      await bob.direct.start()
      const names = new Map([[alice.node.peerId.toString(), 'alice']])
      bob.gate.open(userOf('bob', names, []))
      const toBob = { username: toUsername('bob'), peerId: bob.node.peerId.toString(), addrs: bob.node.getMultiaddrs().map(a => a.toString()) }
      const channels = []
      for (let i = 0; i < 6; i++) {
        const framed = await openStream(alice.node, toBob, DIRECT_PROTOCOL)
        channels.push(await initiateDirectChannel(framed, formatHeader({ kind: 'SESSION' }), alice.node.peerId.toString(), toBob.peerId))
      }
      // The two oldest end at bob's side: their reads fail; the four newest are open.
      const ends = await Promise.all(channels.map(async ({ channel }) =>
        await Promise.race([channel.receivePlain().then(() => 'frame', () => 'ended'), new Promise(resolve => { setTimeout(resolve, 500, 'open') })])))
      assert.deepEqual(ends, ['ended', 'ended', 'open', 'open', 'open', 'open'])
    } finally {
      for (const p of [alice, bob]) {
        await p.direct.stop()
        await p.node.stop()
      }
    }
  })
})

describe('the signed-in gate', () => {
  beforeEach(() => { mock.timers.enable({ apis: ['setTimeout'] }) })
  afterEach(() => { mock.timers.reset() })

  it('hands a waiting stream the user who signs in within a step, and refuses it after', async () => {
    const gate = new SignedInGate()
    const user = userOf('bob', new Map(), [])
    const waiting = gate.next()
    mock.timers.tick(STEP_TIMEOUT_MS - 1)
    gate.open(user)
    assert.equal(await waiting, user)

    const late = new SignedInGate()
    const refused = late.next()
    mock.timers.tick(STEP_TIMEOUT_MS)
    await assert.rejects(refused, (err: unknown) => is(err, ErrorCode.NotSignedIn))
  })

  it('closes with the user\'s sign-out: outbound work is refused at once, inbound waits for the next user', async () => {
    const gate = new SignedInGate()
    const signOut = new AbortController()
    const user = { ...userOf('bob', new Map(), []), signal: signOut.signal }
    assert.throws(() => gate.now(), (err: unknown) => is(err, ErrorCode.Unreachable))
    gate.open(user)
    assert.equal(gate.now(), user)
    signOut.abort()
    assert.throws(() => gate.now(), (err: unknown) => is(err, ErrorCode.Unreachable))
    const waiting = gate.next()
    const next = userOf('bob', new Map(), [])
    gate.open(next)
    assert.equal(await waiting, next)
  })
})
