/**
 * A user who signs in on a second device: the first one signs out for real (it says so once,
 * stops answering as the user) and what contacts send from then on reaches the new device,
 * exactly once, direct and in a group. Until 2026-12-05 the old peer only warned, kept its
 * direct sessions and its node under the user's identity, and went on taking their messages.
 * Real rendezvous and peer processes; the two devices share one identity (LOGIN restores it).
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { removeDir, tempDir } from '../../harness/temp.ts'
import { PeerProcess, is, spawnRendezvous } from '../../harness/processes.ts'
import type { PeerEventLine, ServerProcess } from '../../harness/processes.ts'

const PASSWORD = 'two devices, one bob'
/** Generous: a sign-in runs scrypt, and contacts may take a retry to find the new device. */
const MOVE_WAIT_MS = 60_000
/** Seconds of 3DES on either side: still coming in when a sign-in elsewhere has run its scrypt. */
const FILE_BYTES = 64 * 1024 * 1024

describe('signing in on another device signs the old one out', () => {
  let dir: string
  let server: ServerProcess
  let alice: PeerProcess
  /** In no group with bob: nothing opens a session with her ahead, so she must dial him anew. */
  let carol: PeerProcess
  let oldBob: PeerProcess
  let newBob: PeerProcess | undefined
  let bobPeerId: unknown

  const texts = (events: PeerEventLine[], text: string): PeerEventLine[] =>
    events.filter(e => (e.event === 'message' || e.event === 'group-message') && e.text === text)

  before(async () => {
    dir = await tempDir('parley-elsewhere-')
    server = await spawnRendezvous(join(dir, 'rendezvous'))
    alice = await PeerProcess.start('alice', server.addr.toString(), join(dir, 'alice'))
    carol = await PeerProcess.start('carol', server.addr.toString(), join(dir, 'carol'))
    oldBob = await PeerProcess.start('bob (old device)', server.addr.toString(), join(dir, 'bob-old'))
    await alice.run(`SIGNUP alice ${PASSWORD}`, is('signed-up'))
    await carol.run(`SIGNUP carol ${PASSWORD}`, is('signed-up'))
    bobPeerId = (await oldBob.run(`SIGNUP bob ${PASSWORD}`, is('signed-up'))).peerId
    await alice.run('JOIN friends', is('joined'))
    await oldBob.run('JOIN friends', is('joined'))
    // They have talked: alice holds a connection, a session and bob's address on the old device.
    const hello = oldBob.waitFor(is('message', { from: 'alice', text: 'hello old device' }))
    await alice.run('SEND bob hello old device', is('delivered', { to: 'bob' }))
    await hello
    await oldBob.run('SEND alice hi alice', is('delivered', { to: 'alice' }))
    const fromCarol = oldBob.waitFor(is('message', { from: 'carol', text: 'carol to the old device' }))
    await carol.run('SEND bob carol to the old device', is('delivered', { to: 'bob' }))
    await fromCarol
    const keyed = oldBob.waitFor(is('group-message', { group: 'friends', text: 'group before the move' }))
    alice.send('SENDGROUP friends group before the move')
    await keyed
  })

  after(async () => {
    for (const peer of [alice, carol, oldBob, newBob]) if (peer !== undefined && peer.child.exitCode === null) await peer.kill()
    await server.stop()
    await removeDir(dir)
  })

  test('the old device is told once, and is signed out; a file coming in then goes to the new one', async () => {
    newBob = await PeerProcess.start('bob (new device)', server.addr.toString(), join(dir, 'bob-new'))
    // A file on its way to the old device when the new one signs in: large enough to be still
    // coming in after the sign-in's scrypt, whatever the machine's speed.
    const path = join(dir, 'moving.bin')
    await writeFile(path, Buffer.alloc(FILE_BYTES, 7))
    const oldFrom = oldBob.events.length
    alice.send(`SENDFILE ${path} bob`)
    await oldBob.waitFor(e => e.event === 'progress' && e.direction === 'receive' && e.name === 'moving.bin', MOVE_WAIT_MS, oldFrom)
    const signedIn = await newBob.run(`LOGIN bob ${PASSWORD}`, e => e.event === 'logged-in' || e.event === 'error', MOVE_WAIT_MS)
    assert.equal(signedIn.event, 'logged-in', JSON.stringify(signedIn))
    assert.equal(signedIn.peerId, bobPeerId, 'the identity came from its wrapped copy: one peer id on both devices')

    const out = await oldBob.waitFor(is('signed-out', { username: 'bob', reason: 'elsewhere' }), MOVE_WAIT_MS)
    assert.equal(out.pending, 0, 'nothing of ours was waiting in the outbox here')
    // Said as our own sign-out, not as alice gone ("the rest comes when alice is back", until
    // 2026-12-06), and the whole file reaches the new device.
    const cut = await oldBob.waitFor(is('file-cut', { from: 'alice', name: 'moving.bin' }), MOVE_WAIT_MS, oldFrom)
    assert.equal(cut.cause, 'signed-out', JSON.stringify(cut))
    const moved = await newBob.waitFor(is('file', { from: 'alice', name: 'moving.bin' }), MOVE_WAIT_MS)
    assert.equal(moved.size, FILE_BYTES)
    const who = await oldBob.run('WHO', e => e.event === 'who' || e.event === 'error')
    assert.equal(who.code, 'ERR_NOT_SIGNED_IN', JSON.stringify(who))
    // bob stayed online: alice and carol, who had looked him up, are not told he came online
    // (until 2026-12-06 they were, having heard nothing of his presence before: a tester's finding).
    for (const peer of [alice, carol]) assert.deepEqual(peer.events.filter(e => e.event === 'presence' && e.user === 'bob'), [], peer.name)
  })

  test('what alice and carol send next reaches the new device exactly once, direct and in the group, and not the old one', async () => {
    const device = newBob
    assert.ok(device !== undefined)
    const oldFrom = oldBob.events.length
    const direct = device.waitFor(is('message', { from: 'alice', text: 'after the move' }), MOVE_WAIT_MS)
    alice.send('SEND bob after the move')
    await direct
    await alice.waitFor(e => e.event === 'delivered' && e.to === 'bob' && e.group === null &&
      alice.events.some(s => s.event === 'sent' && s.id === e.id && s.to === 'bob'), MOVE_WAIT_MS)
    const carols = device.waitFor(is('message', { from: 'carol', text: 'carol after the move' }), MOVE_WAIT_MS)
    carol.send('SEND bob carol after the move')
    await carols
    const grouped = device.waitFor(is('group-message', { group: 'friends', from: 'alice', text: 'group after the move' }), MOVE_WAIT_MS)
    alice.send('SENDGROUP friends group after the move')
    await grouped
    // One more behind them: a session delivers in order, so once it is in, a copy of either
    // would have come before it.
    const marker = device.waitFor(is('message', { from: 'alice', text: 'the last one' }), MOVE_WAIT_MS)
    const carolsMarker = device.waitFor(is('message', { from: 'carol', text: 'carol again' }), MOVE_WAIT_MS)
    alice.send('SEND bob the last one')
    carol.send('SEND bob carol again')
    await Promise.all([marker, carolsMarker])

    assert.equal(texts(device.events, 'after the move').length, 1)
    assert.equal(texts(device.events, 'group after the move').length, 1)
    assert.equal(texts(device.events, 'carol after the move').length, 1)
    assert.deepEqual(texts(oldBob.events.slice(oldFrom), 'after the move'), [])
    assert.deepEqual(texts(oldBob.events.slice(oldFrom), 'group after the move'), [])
    assert.deepEqual(oldBob.events.slice(oldFrom).filter(e => e.event === 'message' || e.event === 'group-message'), [])

    const history = await device.run('HISTORY friends', is('history', { with: 'friends' }))
    const lines = (history.messages as Array<{ text: string }>).map(m => m.text)
    assert.ok(lines.includes('group after the move'), JSON.stringify(lines))
    assert.equal(oldBob.events.filter(e => e.event === 'signed-out').length, 1, 'told once')
  })

  test('signing in on the old device again keeps what it took before the move, and signs the new one out', async () => {
    const device = newBob
    assert.ok(device !== undefined)
    const again = await oldBob.run(`LOGIN bob ${PASSWORD}`, e => e.event === 'logged-in' || e.event === 'error', MOVE_WAIT_MS)
    assert.equal(again.event, 'logged-in', JSON.stringify(again))
    await device.waitFor(is('signed-out', { username: 'bob', reason: 'elsewhere' }), MOVE_WAIT_MS)
    const history = await oldBob.run('HISTORY alice', is('history', { with: 'alice' }))
    const lines = (history.messages as Array<{ text: string }>).map(m => m.text)
    assert.ok(lines.includes('hello old device'), JSON.stringify(lines))
    assert.ok(!lines.includes('after the move'), JSON.stringify(lines))
    const back = oldBob.waitFor(is('message', { from: 'alice', text: 'back on the old one' }), MOVE_WAIT_MS)
    alice.send('SEND bob back on the old one')
    await back
    assert.deepEqual(texts(device.events, 'back on the old one'), [])
  })

  test('another account signed in by the same process says the last one is signed out here, and what it left in the outbox', async () => {
    // Carol away: what alice sends her waits in alice's outbox.
    assert.equal(await carol.quit(), 0)
    await alice.run('SEND carol for when you are back', is('queued', { to: 'carol' }))
    const from = alice.events.length
    const erin = await alice.run(`SIGNUP erin ${PASSWORD}`, e => e.event === 'signed-up' || e.event === 'error', MOVE_WAIT_MS)
    assert.equal(erin.event, 'signed-up', JSON.stringify(erin))
    // Said before the new account's welcome (until 2026-12-06 nothing was said: round 7).
    const said = alice.events.slice(from).filter(e => e.event === 'signed-out' || e.event === 'signed-up')
    assert.deepEqual(said.map(e => [e.event, e.username, e.reason, e.pending]), [['signed-out', 'alice', 'switched', 1], ['signed-up', 'erin', undefined, undefined]])
  })
})
