/**
 * BLOCK and UNBLOCK with real processes: a real rendezvous and real peer processes on 127.0.0.1,
 * driven over stdin with --json. A blocked user's texts, files and group messages are refused,
 * and their sender is told so (undelivered, not tried again); the blocker sees nothing of them
 * and no warning; after UNBLOCK what they send comes in again.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { removeDir, tempDir } from '../../harness/temp.ts'
import { partialDirOf } from '../../peer/files/index.ts'
import { PeerProcess, is, spawnRendezvous } from '../../harness/processes.ts'
import type { PeerEventLine, ServerProcess } from '../../harness/processes.ts'

const PASSWORD = 'block-test-password'
const answer = (kinds: string[]) => (e: PeerEventLine): boolean => e.event === 'error' || kinds.includes(e.event)

describe('BLOCK: a user whose messages are refused', () => {
  let dir: string
  let server: ServerProcess
  let alice: PeerProcess
  let mallory: PeerProcess
  let carol: PeerProcess

  before(async () => {
    dir = await tempDir('parley-block-')
    server = await spawnRendezvous(join(dir, 'rendezvous'))
    const start = async (name: string): Promise<PeerProcess> => {
      const peer = await PeerProcess.start(name, server.addr.toString(), join(dir, name))
      const made = await peer.run(`SIGNUP ${name} ${PASSWORD}`, answer(['signed-up']))
      assert.equal(made.event, 'signed-up', JSON.stringify(made))
      return peer
    }
    ;[alice, mallory, carol] = await Promise.all(['alice', 'mallory', 'carol'].map(start)) as [PeerProcess, PeerProcess, PeerProcess]
  })

  after(async () => {
    await Promise.all([alice, mallory, carol].map(async p => await p?.kill()))
    await server?.stop('SIGKILL')
    await removeDir(dir)
  })

  test('refused and told so, texts, files and group messages alike; nothing shown to the blocker; UNBLOCK takes them again', async () => {
    // They talked before: mallory is a contact.
    const first = alice.waitFor(is('message', { from: 'mallory', text: 'hi alice' }))
    await mallory.run('SEND alice hi alice', is('delivered', { to: 'alice' }))
    await first

    assert.deepEqual(await alice.run('BLOCK mallory', answer(['blocked'])), { event: 'blocked', user: 'mallory', already: false, partsRemoved: 0 })
    assert.deepEqual(await alice.run('BLOCK mallory', answer(['blocked'])), { event: 'blocked', user: 'mallory', already: true, partsRemoved: 0 })
    assert.deepEqual(await alice.run('BLOCK', answer(['blocklist'])), { event: 'blocklist', users: ['mallory'] })
    const nobody = await alice.run('BLOCK nobody', answer(['blocked']))
    assert.deepEqual([nobody.code, nobody.message], ['ERR_NOT_FOUND', 'no user "nobody": nobody was blocked'])
    const self = await alice.run('BLOCK alice', answer(['blocked']))
    assert.equal(self.code, 'ERR_USAGE', JSON.stringify(self))
    const toBlocked = await alice.run('SEND mallory are you there', answer(['accepted']))
    assert.deepEqual([toBlocked.code, toBlocked.message], ['ERR_USAGE', 'you blocked mallory: nothing was sent (UNBLOCK mallory first)'])

    // A text, on the session mallory already has with alice, and a file: refused, and said so.
    const aliceFrom = alice.events.length
    const text = await mallory.run('SEND alice let me in', answer(['undelivered']))
    assert.equal(text.event, 'undelivered', JSON.stringify(text))
    assert.equal(text.message, 'could not deliver to alice: refused by the recipient: you are blocked: nothing of yours is taken')
    const file = join(dir, 'photo.jpg')
    await writeFile(file, Buffer.alloc(200_000, 7))
    const sentFile = await mallory.run(`SENDFILE ${file} alice`, answer(['undelivered']))
    assert.equal(sentFile.event, 'undelivered', JSON.stringify(sentFile))
    assert.match(String(sentFile.message), /refused by the recipient: you are blocked/)

    // A group the three share: carol's message reaches alice, mallory's does not.
    for (const peer of [alice, carol, mallory]) {
      const joined = await peer.run('JOIN club', answer(['joined']))
      assert.equal(joined.event, 'joined', JSON.stringify(joined))
    }
    const fromCarol = alice.waitFor(is('group-message', { from: 'carol', text: 'hello club' }))
    await carol.run('SENDGROUP club hello club', is('delivered', { to: 'alice', group: 'club' }))
    await fromCarol
    const group = await mallory.run('SENDGROUP club it is me', e => e.event === 'error' || (e.event === 'undelivered' && e.to === 'alice'))
    assert.equal(group.event, 'undelivered', JSON.stringify(group))
    assert.match(String(group.message), /refused by the recipient: you are blocked/)
    await carol.waitFor(is('group-message', { from: 'mallory', text: 'it is me' }))
    // A group file: refused under the stream's keys, and said so (round 47: the sender read a
    // closed stream, and tried again at every reconnect).
    const groupFile = await mallory.run(`SENDGROUPFILE ${file} club`, e => e.event === 'error' || (e.event === 'undelivered' && e.to === 'alice') || (e.event === 'queued' && e.to === 'alice'))
    assert.equal(groupFile.event, 'undelivered', JSON.stringify(groupFile))
    assert.match(String(groupFile.message), /refused by the recipient: you are blocked/)
    await carol.waitFor(is('group-file', { from: 'mallory', name: 'photo.jpg' }))

    const seen = alice.events.slice(aliceFrom)
    assert.deepEqual(seen.filter(e => e.from === 'mallory'), [], 'nothing of mallory\'s shown')
    assert.deepEqual(seen.filter(e => e.event === 'warning' && /mallory/.test(String(e.message))), [], 'and no warning of it: alice chose it')

    // UNBLOCK: what mallory sends now comes in; what was refused does not.
    assert.deepEqual(await alice.run('UNBLOCK mallory', answer(['unblocked'])), { event: 'unblocked', user: 'mallory', already: false })
    assert.deepEqual(await alice.run('BLOCK', answer(['blocklist'])), { event: 'blocklist', users: [] })
    const again = alice.waitFor(is('message', { from: 'mallory', text: 'sorry' }))
    await mallory.run('SEND alice sorry', is('delivered', { to: 'alice' }))
    await again
    assert.deepEqual(alice.events.filter(e => e.from === 'mallory' && e.event === 'message').map(e => e.text), ['hi alice', 'sorry'])
  })

  test('BLOCK stops a file of theirs coming in, and keeps nothing of it; its sender is told, and does not try again (round 47)', { timeout: 60_000 }, async () => {
    const file = join(dir, 'film.mkv')
    await writeFile(file, Buffer.alloc(64 * 1024 * 1024, 3))
    const aliceFrom = alice.events.length
    const malloryFrom = mallory.events.length
    mallory.send(`SENDFILE ${file} alice`)
    await alice.waitFor(e => e.event === 'progress' && e.direction === 'receive' && e.peer === 'mallory' && Number(e.bytes) >= 2 * 1024 * 1024, 30_000, aliceFrom)
    const blocked = await alice.run('BLOCK mallory', answer(['blocked']))
    assert.equal(blocked.event, 'blocked', JSON.stringify(blocked))
    const cut = await alice.waitFor(is('file-cut', { from: 'mallory', name: 'film.mkv' }), 10_000, aliceFrom)
    assert.equal(cut.cause, 'blocked', JSON.stringify(cut))
    assert.equal(cut.reason, 'you blocked mallory')
    const told = await mallory.waitFor(e => e.event === 'undelivered' || (e.event === 'delivered' && e.to === 'alice'), 40_000, malloryFrom)
    assert.match(String(told.message), /refused by the recipient: you are blocked/, JSON.stringify(told))
    // Told at once, by the stream it was sending on (round 49: it read a cut, said `queued`, and
    // heard of the block only at its next try).
    assert.deepEqual(mallory.events.slice(malloryFrom).filter(e => e.event === 'queued'), [])
    // Nothing of it here: no file, no part in downloads, nothing kept for a resume.
    const downloads = join(dir, 'alice', 'alice', 'downloads')
    assert.deepEqual((await readdir(downloads).catch(() => [])).filter(name => name.startsWith('film')), [])
    assert.deepEqual((await readdir(partialDirOf(downloads)).catch(() => [])).filter(name => name.startsWith('mallory-')), [])
    assert.equal(alice.events.slice(aliceFrom).filter(e => e.event === 'file' || e.event === 'warning').length, 0, 'nor shown, nor warned of')
  })
})
